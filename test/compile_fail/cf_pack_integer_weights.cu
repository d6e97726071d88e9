// Must NOT compile: pack_weights reads W as float or bf16; an integer type of the same size would
// be packed as if its bits were floats.
#include <sqformat/gpu/datapath/weight_pack.cuh>

#include <cstdint>

int main() {
  namespace dp = sqformat::gpu::datapath;
  dp::WeightPackArgs<std::int32_t> args;
  return static_cast<int>(dp::pack_weights<sqformat::SqConfig<64, 8, 8, 4>>(args, nullptr));
}
