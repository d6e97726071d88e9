// Host code of a consumer: configuration constants and the error type of the host API.
#include <sqformat/config.hpp>
#include <sqformat/error.hpp>

#include <cstdio>

using Sq5 = sqformat::SqConfig<16, 4>; // B-(8/4)-0.75
static_assert(Sq5::effective_bits == 5.0, "SQ5 is 5 effective bits");

int main() {
  try {
    throw sqformat::Error(sqformat::ErrorCode::shape_mismatch, "consumer check");
  } catch (const sqformat::Error& e) {
    if (e.code() != sqformat::ErrorCode::shape_mismatch)
      return 1;
  }
  std::printf("consumer_host: SqConfig<16, 4> has %.2f effective bits\n", Sq5::effective_bits);
  return 0;
}
