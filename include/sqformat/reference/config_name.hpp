// sqformat/reference/config_name.hpp: the paper's name of a configuration, "B64-(8/4)-0.875".
#pragma once

#include <cstdio>
#include <string>

namespace sqformat::ref {

/// "B<b>-(<high>/<low>)-<s>" with s = (b-H)/b printed exactly (b is a power of two, so s has a
/// short exact decimal form).
template <class C> std::string config_name() {
  char buf[64];
  std::snprintf(buf, sizeof buf, "B%d-(%d/%d)-%.10g", C::bank, C::high_bits, C::low_bits,
                C::sparsity);
  return buf;
}

} // namespace sqformat::ref
