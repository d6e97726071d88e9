// sqformat/reference/detail/checks.hpp: argument checks shared by the host reference.
//
// Internal header: include <sqformat/reference.hpp> or one of the public reference headers.
#pragma once

#include <sqformat/error.hpp>

#include <cstddef>
#include <limits>
#include <string>

namespace sqformat::ref::detail {

/// Throws invalid_argument unless `bits` is one of the SQ-format integer widths.
inline void check_bits(int bits, const char* who) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    throw Error(ErrorCode::invalid_argument, std::string(who) + ": bits = " + std::to_string(bits) +
                                                 " is not an integer width of the format; use 2, "
                                                 "3, 4 or 8");
  }
}

/// Throws invalid_argument for an empty matrix or one whose element count overflows size_t.
inline void check_nonempty(std::size_t rows, std::size_t cols, const char* who) {
  if (rows == 0 || cols == 0) {
    throw Error(ErrorCode::invalid_argument, std::string(who) + ": shape " + std::to_string(rows) +
                                                 "x" + std::to_string(cols) +
                                                 " is empty; rows and columns must be at least 1");
  }
  if (rows > std::numeric_limits<std::size_t>::max() / cols) {
    throw Error(ErrorCode::invalid_argument, std::string(who) + ": rows*cols overflows size_t");
  }
}

/// Throws k_not_multiple_of_bank unless `k` is a positive multiple of the bank size.
inline void check_bank_multiple(std::size_t k, int bank, const char* who) {
  if (k % static_cast<std::size_t>(bank) != 0) {
    throw Error(ErrorCode::k_not_multiple_of_bank,
                std::string(who) + ": K = " + std::to_string(k) +
                    " is not a multiple of the bank size b = " + std::to_string(bank) +
                    "; pad K to a multiple of b before quantizing (the format never pads "
                    "silently)");
  }
}

/// Throws invalid_argument for a null pointer argument.
inline void check_pointer(const void* p, const char* who, const char* name) {
  if (p == nullptr) {
    throw Error(ErrorCode::invalid_argument, std::string(who) + ": " + name + " is null");
  }
}

} // namespace sqformat::ref::detail
