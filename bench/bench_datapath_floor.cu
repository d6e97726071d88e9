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

#include <cuda/std/cstdint>

namespace {

/// Reads n_in 16-byte chunks and writes n_out (<= n_in). Block b loads input chunks
/// [b C, (b + 1) C), C = 256 * ChunksPerThread (coalesced, all of a thread's loads issued before
/// any store), and stores its share of the output, chunks [b C n_out / n_in, (b + 1) C n_out /
/// n_in), from the chunks it loaded: every output chunk is written once and the stores
/// interleave with the loads as in a real kernel. Loaded chunks not stored feed a compare that
/// never holds on the benchmark's data, so no load can be dropped.
template <int ChunksPerThread>
__global__ void __launch_bounds__(256)
    stream_floor_kernel(const uint4* __restrict__ in, std::uint64_t n_in, uint4* __restrict__ out,
                        std::uint64_t n_out, unsigned* __restrict__ sink) {
  constexpr std::uint64_t chunks_per_block = 256 * ChunksPerThread;
  const std::uint64_t first = blockIdx.x * chunks_per_block;
  const std::uint64_t out_first = first * n_out / n_in;
  const std::uint64_t out_end = (first + chunks_per_block) * n_out / n_in; // next block's first
  const std::uint64_t out_last = out_end < n_out ? out_end : n_out;
  uint4 v[ChunksPerThread];
#pragma unroll
  for (int j = 0; j < ChunksPerThread; ++j) {
    const std::uint64_t t = first + j * 256 + threadIdx.x;
    v[j] = t < n_in ? in[t] : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int j = 0; j < ChunksPerThread; ++j) {
    const std::uint64_t o = out_first + j * 256 + threadIdx.x;
    if (o < out_last)
      out[o] = v[j];
    else if ((v[j].x ^ v[j].y ^ v[j].z ^ v[j].w) == 0x9e3779b9u && v[j].x == v[j].w)
      atomicAdd(sink, 1u);
  }
}

enum class Op { static_split, dynamic, pack_bf16, pack_fp32 };

/// Input and output bytes of the operation at (m, k) for B64-(8/4), as the other rows count them.
void op_bytes(Op op, std::int64_t m, std::int64_t k, std::size_t& in, std::size_t& out) {
  const std::size_t sq =
      m * (dp::sq_low_row_bytes<SQ45>(k) + dp::sq_high_row_bytes<SQ45>(k) + 8 * (k / SQ45::bank));
  switch (op) {
  case Op::static_split:
    in = m * k * 2 + k * 4;
    out = m * (dp::static_high_row_bytes<SQ45>(k) + dp::static_low_row_bytes<SQ45>(k)) + m * 8;
    return;
  case Op::dynamic: in = m * k * 2, out = sq; return;
  case Op::pack_bf16: in = m * k * 3, out = sq; return;
  case Op::pack_fp32: in = m * k * 5, out = sq; return;
  }
}

template <Op O, int ChunksPerThread = 4> void bench_floor(benchmark::State& state) {
  constexpr int chunks_per_thread = ChunksPerThread, threads = 256;
  std::size_t in_bytes = 0, out_bytes = 0;
  op_bytes(O, state.range(0), state.range(1), in_bytes, out_bytes);
  const std::uint64_t n_in = (in_bytes + 15) / 16, n_out = (out_bytes + 15) / 16;
  Dev<bf16> in(n_in * 8);
  Dev<uint4> out(n_out);
  Dev<unsigned> sink(1);
  fill_random<<<1024, 256>>>(in.p, n_in * 8, 5u);
  const unsigned blocks = static_cast<unsigned>(
      (n_in + std::uint64_t(threads) * chunks_per_thread - 1) / (threads * chunks_per_thread));
  const uint4* src = reinterpret_cast<const uint4*>(in.p);
  auto call = [&] {
    stream_floor_kernel<chunks_per_thread><<<blocks, threads>>>(src, n_in, out.p, n_out, sink.p);
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
