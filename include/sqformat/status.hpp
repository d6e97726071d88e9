// sqformat/status.hpp: status codes returned by the device (CUDA) API.
//
// Device entry points never throw, print or exit. Each returns a Status; to_string() names the
// rule that was broken. Plain C++ so host code can include it without CUDA.
#pragma once

namespace sqformat {

enum class Status {
  success = 0,
  invalid_shape,            ///< a dimension is zero, negative or too large
  k_not_multiple_of_bank,   ///< K is not a multiple of the bank size b
  n_not_supported,          ///< N violates the kernel's documented requirement
  misaligned_pointer,       ///< a pointer lacks the alignment the kernel needs (16 bytes)
  unsupported_architecture, ///< no kernel for this GPU's compute capability in this build
  insufficient_workspace,   ///< the workspace is smaller than the queried size
  non_finite_input,         ///< NaN or Inf found in an input that is quantized
  invalid_argument,         ///< another parameter outside its range
  numerical_failure,        ///< a factorization failed (e.g. a Hessian not positive definite)
  cuda_error,               ///< a CUDA runtime or library call failed
};

inline const char* to_string(Status s) {
  switch (s) {
  case Status::success: return "success";
  case Status::invalid_shape: return "invalid shape: a dimension is zero, negative or too large";
  case Status::k_not_multiple_of_bank: return "K is not a multiple of the bank size";
  case Status::n_not_supported:
    return "N is not supported by this kernel (see its documented requirement)";
  case Status::misaligned_pointer: return "a pointer is not 16-byte aligned";
  case Status::unsupported_architecture: return "no kernel for this GPU architecture in this build";
  case Status::insufficient_workspace: return "workspace smaller than the queried size";
  case Status::non_finite_input: return "non-finite (NaN or Inf) input";
  case Status::invalid_argument: return "invalid argument";
  case Status::numerical_failure:
    return "numerical failure: a factorization failed even with the largest dampening";
  case Status::cuda_error: return "a CUDA call failed";
  }
  return "unknown status";
}

namespace detail {
/// Returns `s`, and stores `why` (a static string naming the rule that failed) in `*reason` when
/// the caller asked for one: how the checks of the device API say which rule failed.
inline Status fail(const char** reason, Status s, const char* why) {
  if (reason != nullptr)
    *reason = why;
  return s;
}
} // namespace detail

} // namespace sqformat
