#include "sq_catch.hpp"

#include <sqformat/config.hpp>

TEST_CASE("SqConfig derived constants", "[config]") {
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  STATIC_REQUIRE(C::low_per_bank == 56);
  STATIC_REQUIRE(C::low_sentinel == -8);
  REQUIRE(C::effective_bits == Catch::Approx(4.5));
  REQUIRE(C::sparsity == Catch::Approx(0.875));
}
