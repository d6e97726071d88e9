// bench/support/stream_floor.cuh: the streaming floor the benchmarks compare kernels with, a
// kernel that reads an operation's input bytes once and writes its output bytes once and does
// nothing else (the data-path operations in bench_datapath_floor.cu, the W(SQ) weights in
// bench_wsq_decode.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sqformat::bench {

/// Reads n_in 16-byte chunks and writes n_out (<= n_in). Block b loads input chunks
/// [b C, (b + 1) C), C = 256 * ChunksPerThread (coalesced, all of a thread's loads issued before
/// any store), and stores its share of the output, chunks [b C n_out / n_in, (b + 1) C n_out /
/// n_in), from the chunks it loaded: every output chunk is written once and the stores
/// interleave with the loads as in a real kernel. Loaded chunks not stored feed a compare that
/// never holds on the benchmarks' data, so no load can be dropped.
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

/// Launches stream_floor_kernel over n_in input chunks (blocks of 256 threads).
template <int ChunksPerThread = 4>
void stream_floor(const uint4* in, std::uint64_t n_in, uint4* out, std::uint64_t n_out,
                  unsigned* sink, cudaStream_t stream = nullptr) {
  constexpr std::uint64_t per_block = 256 * ChunksPerThread;
  const auto blocks = static_cast<unsigned>((n_in + per_block - 1) / per_block);
  stream_floor_kernel<ChunksPerThread><<<blocks, 256, 0, stream>>>(in, n_in, out, n_out, sink);
}

} // namespace sqformat::bench
