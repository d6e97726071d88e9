// Data-path benchmarks, the streaming floor: for each data-path operation, a kernel that moves
// exactly its bytes (reads its inputs once, writes its outputs once) and does nothing else. Its
// pct_copy is what any kernel with that operation's traffic can expect against the D2D copy;
// the operation's own pct_copy divided by it says how much the arithmetic and the layout cost.
// Method: bench/support/datapath_bench.cuh (same flush, timing and copy as the other rows).
//
// Why this is not the copy itself: a copy reads and writes equal halves, the data-path
// operations read two to five times what they write (bf16 activations in, 4.5-bit codes out),
// and at M = 2048 the written bytes can stay in the 50 MB L2 for the whole timed call while the
// read bytes must come from DRAM. So the copy and the operations are not limited alike.
#include "datapath_bench.cuh"
#include "stream_floor.cuh"

#include <cuda/std/cstdint>

namespace {

enum class Op { static_split, dynamic, pack_bf16, pack_fp32 };

/// Input and output bytes of the operation at (m, k) for B64-(8/4), as the other rows count them.
void op_bytes(Op op, std::int64_t m, std::int64_t k, std::size_t& in, std::size_t& out) {
  switch (op) {
  case Op::static_split:
    in = static_split_input_bytes(m, k), out = static_split_output_bytes<SQ45>(m, k, m);
    return;
  case Op::dynamic: in = m * k * 2, out = sq_tensor_bytes<SQ45>(m, k); return;
  case Op::pack_bf16: in = m * k * 3, out = sq_tensor_bytes<SQ45>(m, k); return;
  case Op::pack_fp32: in = m * k * 5, out = sq_tensor_bytes<SQ45>(m, k); return;
  }
}

template <Op O, int ChunksPerThread = 4> void bench_floor(benchmark::State& state) {
  std::size_t in_bytes = 0, out_bytes = 0;
  op_bytes(O, state.range(0), state.range(1), in_bytes, out_bytes);
  const std::uint64_t n_in = (in_bytes + 15) / 16, n_out = (out_bytes + 15) / 16;
  Dev<bf16> in(n_in * 8);
  Dev<uint4> out(n_out);
  Dev<unsigned> sink(1);
  fill_random<<<1024, 256>>>(in.p, n_in * 8, 5u);
  const uint4* src = reinterpret_cast<const uint4*>(in.p);
  auto call = [&] {
    sqformat::bench::stream_floor<ChunksPerThread>(src, n_in, out.p, n_out, sink.p);
  };
  call();
  if (cudaDeviceSynchronize() != cudaSuccess) {
    state.SkipWithError("stream_floor_kernel failed");
    return;
  }
  report(state, in_bytes + out_bytes, call);
}

} // namespace

// The four operations of the other rows, B64-(8/4): static split, dynamic top-H, packer with
// bf16 and with fp32 weights (each with its own input and output bytes).
BENCHMARK_TEMPLATE(bench_floor, Op::static_split)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_floor, Op::dynamic)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_floor, Op::pack_bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_floor, Op::pack_fp32)->Apply(shapes);
// The same with 8 and 2 chunks (16 bytes each) a thread: whether the floor kernel itself is short
// of loads in flight.
BENCHMARK_TEMPLATE(bench_floor, Op::static_split, 8)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_floor, Op::static_split, 2)->Apply(shapes);
