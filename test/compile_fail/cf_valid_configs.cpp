// Positive control for the compile-fail tests: valid configurations compile, and their derived
// constants are what docs/format.md says.
#include <sqformat/config.hpp>

using sqformat::SqConfig;

static_assert(SqConfig<4, 2>::effective_bits == 6.0, "2:4-like bank, SQ6");
static_assert(SqConfig<16, 4>::effective_bits == 5.0, "B-(8/4)-0.75 is SQ5");
static_assert(SqConfig<64, 8>::effective_bits == 4.5, "B-(8/4)-0.875 is SQ4.5");
static_assert(SqConfig<1024, 64>::effective_bits == 4.25, "B-(8/4)-0.9375 is SQ4.25");
static_assert(SqConfig<32, 16, 8, 2>::low_sentinel == -2, "INT2 sentinel");
static_assert(SqConfig<32, 8, 8, 3>::low_qmax == 3, "INT3 range");
static_assert(SqConfig<32, 8, 4, 2>::high_qmax == 7, "INT4 high range");
static_assert(SqConfig<16, 4>::sq_tensor_bits_per_bank == 16 * 4 + 4 * 8, "SQ tensor bank bits");

int main() { return SqConfig<16, 4>::low_per_bank == 12 ? 0 : 1; }
