// sqformat/error.hpp: errors of the host-side API (reference, PTQ, I/O).
//
// Host-side functions report misuse by throwing sqformat::Error, whose code says which rule was
// broken and whose message says what to do. Device launch paths never throw: they return a
// sqformat::Status (see status.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace sqformat {

enum class ErrorCode {
  invalid_argument,       ///< a parameter outside its documented range
  shape_mismatch,         ///< sizes of the operands do not agree
  k_not_multiple_of_bank, ///< K is not a multiple of the bank size b
  non_finite_input,       ///< NaN or Inf in an input that is quantized
  bad_mask,               ///< a high mask without exactly H high elements per bank
  io_error,               ///< a file could not be opened, read or written
  truncated_file,         ///< a file ended before its declared contents
  format_mismatch,        ///< a file holds another format, version or configuration
  numerical_failure,      ///< a factorization failed (for example a Hessian not positive definite)
};

inline const char* to_string(ErrorCode c) {
  switch (c) {
  case ErrorCode::invalid_argument: return "invalid_argument";
  case ErrorCode::shape_mismatch: return "shape_mismatch";
  case ErrorCode::k_not_multiple_of_bank: return "k_not_multiple_of_bank";
  case ErrorCode::non_finite_input: return "non_finite_input";
  case ErrorCode::bad_mask: return "bad_mask";
  case ErrorCode::io_error: return "io_error";
  case ErrorCode::truncated_file: return "truncated_file";
  case ErrorCode::format_mismatch: return "format_mismatch";
  case ErrorCode::numerical_failure: return "numerical_failure";
  }
  return "unknown";
}

class Error : public std::runtime_error {
public:
  Error(ErrorCode code, const std::string& what)
      : std::runtime_error(std::string("sqformat: ") + to_string(code) + ": " + what), code_(code) {
  }
  ErrorCode code() const noexcept { return code_; }

private:
  ErrorCode code_;
};

} // namespace sqformat
