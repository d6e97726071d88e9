// sqformat/gpu/datapath/policy.hpp: tuning policies of the data-path kernels.
//
// A policy only changes speed, never bytes: every kernel writes identical output under every
// valid policy (the GPU tests check this). The SqConfig fixes what the data is; the policy fixes
// how many threads work on it and how much each one holds.
//
// Plain C++17, no CUDA headers.
#pragma once

namespace sqformat::gpu::datapath {

namespace detail {
constexpr int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
constexpr int lcm(int a, int b) { return a / gcd(a, b) * b; }
constexpr int min_int(int a, int b) { return a < b ? a : b; }
constexpr int max_int(int a, int b) { return a > b ? a : b; }
constexpr int round_up(int v, int m) { return (v + m - 1) / m * m; }
} // namespace detail

/// Policy of the block-gather static quantize-and-split kernel (one thread block per
/// `RowsPerBlock` tokens; not the default, see StaticSplitStreamPolicy).
///
/// \tparam Threads        threads per block, a multiple of 32 in [32, 1024].
/// \tparam RowsPerBlock   tokens a block quantizes together (the permutation is read once per
///                        block; the block keeps RowsPerBlock·K inputs in shared memory).
/// \tparam ItemsPerThread columns per thread and row held in registers between the max pass and
///                        the quantize pass; columns beyond Threads·ItemsPerThread are gathered
///                        from shared memory a second time.
/// \tparam MinBlocksPerSm blocks the compiler must fit on one SM (caps registers per thread).
template <int Threads = 512, int RowsPerBlock = 1, int ItemsPerThread = 16, int MinBlocksPerSm = 1>
struct StaticSplitPolicy {
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024,
                "StaticSplitPolicy: Threads must be a multiple of 32 in [32, 1024]");
  static_assert(RowsPerBlock >= 1 && RowsPerBlock <= 4,
                "StaticSplitPolicy: RowsPerBlock must lie in [1, 4] (shared memory holds "
                "RowsPerBlock rows of X)");
  static_assert(ItemsPerThread >= 1 && ItemsPerThread <= 32,
                "StaticSplitPolicy: ItemsPerThread must lie in [1, 32]");
  static constexpr int threads = Threads;
  static constexpr int rows_per_block = RowsPerBlock;
  static constexpr int items_per_thread = ItemsPerThread;
  static constexpr int min_blocks_per_sm = MinBlocksPerSm;
};

/// Policy of the streaming static quantize-and-split kernel: persistent blocks,
/// one token at a time, the next tokens' rows of X loading (cp.async) while the current one is
/// quantized, the permutation held in registers for the whole launch.
///
/// \tparam ItemsPerThread columns per thread held in registers (values and their source
///                        channels); the launcher picks Threads = ceil(K / ItemsPerThread)
///                        rounded to a warp, at most MaxThreads. Columns beyond
///                        MaxThreads·ItemsPerThread are gathered from shared memory twice.
/// \tparam MaxThreads     largest block; also sets the register cap (65536 / MaxThreads).
/// \tparam MaxStages      rows of X a block holds in shared memory (1 to 3); the launcher uses
///                        fewer when more would lower the number of blocks per SM.
template <int ItemsPerThread = 16, int MaxThreads = 1024, int MaxStages = 2>
struct StaticSplitStreamPolicy {
  static_assert(ItemsPerThread >= 1 && ItemsPerThread <= 64,
                "StaticSplitStreamPolicy: ItemsPerThread must lie in [1, 64]");
  static_assert(MaxThreads % 32 == 0 && MaxThreads >= 32 && MaxThreads <= 1024,
                "StaticSplitStreamPolicy: MaxThreads must be a multiple of 32 in [32, 1024]");
  static_assert(MaxStages >= 1 && MaxStages <= 3,
                "StaticSplitStreamPolicy: MaxStages must lie in [1, 3]");
  static constexpr int items_per_thread = ItemsPerThread;
  static constexpr int max_threads = MaxThreads;
  static constexpr int max_stages = MaxStages;
};

/// Policy of the bank static quantize-and-split kernel (the default before the column kernel;
/// it serves the configs and K the column kernel cannot): persistent blocks, one
/// token row at a time staged in shared memory (cp.async, the next rows loading meanwhile), the
/// layer's permutation turned once per block into a high mask per 8 channels, and each warp
/// quantizing whole banks at a time into its own staging buffer. Per-(token, bank) scales, K not
/// a multiple of 8 and rows too long for shared memory run the streaming kernel instead.
///
/// \tparam Threads        largest block, a multiple of 32 in [32, 1024]; the launcher uses fewer
///                        when the row has fewer warp tiles (a tile is 256 elements or more).
///                        0 (the default) picks: blocks of 128 threads, 8 a SM, for K up to
///                        auto_small_k (rows small enough that 8 blocks' buffers fit) and at
///                        least auto_small_rows tokens (enough rows to keep 8 blocks a SM busy);
///                        blocks of 512, 2 a SM, otherwise (more warps per row).
/// \tparam MaxStages      rows of X a block holds in shared memory (1 to 3); the launcher uses
///                        fewer when more would lower the number of blocks per SM.
/// \tparam MinBlocksPerSm blocks the compiler must fit on one SM (caps registers per thread:
///                        2 x 512 or 8 x 128 threads = 64 registers, which the kernel fits
///                        without spills); not used when Threads is 0.
/// \tparam ColumnGather   pass 2 in output order: runs the column kernel
///                        (StaticSplitColumnPolicy<Threads, MaxStages, MinBlocksPerSm>), which
///                        replaced this kernel's own output-order pass (with Threads = 0 its block
///                        choice, never the lane kernel); what it cannot serve runs as
///                        StaticSplitBankPolicy<> (default blocks). Same bytes either way.
template <int Threads = 0, int MaxStages = 2, int MinBlocksPerSm = 2, bool ColumnGather = false>
struct StaticSplitBankPolicy {
  static_assert(Threads == 0 || (Threads % 32 == 0 && Threads >= 32 && Threads <= 1024),
                "StaticSplitBankPolicy: Threads must be 0 (pick by K) or a multiple of 32 in "
                "[32, 1024]");
  static_assert(MaxStages >= 1 && MaxStages <= 3,
                "StaticSplitBankPolicy: MaxStages must lie in [1, 3]");
  static_assert(
      MinBlocksPerSm >= 1 && MinBlocksPerSm * Threads <= 2048,
      "StaticSplitBankPolicy: MinBlocksPerSm * Threads must not exceed 2048 threads a SM");
  static constexpr int threads = Threads;
  static constexpr int max_stages = MaxStages;
  static constexpr int min_blocks_per_sm = MinBlocksPerSm;
  static constexpr bool column_gather = ColumnGather;
  /// Largest K and fewest tokens that Threads = 0 runs with blocks of 128 threads (H100: at
  /// M = 8192, K <= 8192 they beat 512-thread blocks by 10-30 %, at M = 2048 they tie, at
  /// M <= 16 they take 1.5-2.7x as long).
  static constexpr int auto_small_k = 8192;
  static constexpr int auto_small_rows = 1024;
};

/// Policy of the column static quantize-and-split kernel: persistent blocks, a token row at a
/// time staged in shared memory with the next Stages - 1 rows loading, the permutation read once
/// per block into a high mask and a channel table (one byte a column for the usual configs),
/// and pass 2 in output order (each lane quantizes whole output words, gathering their
/// channels). Configs or K the output order cannot serve (3-bit fields, table entries that
/// would not fit a byte, blocks that do not end on a word), per-(token, bank) scales, K not a
/// multiple of 8 and rows too long for its shared memory run as StaticSplitBankPolicy<> would.
///
/// \tparam Threads        block size, a multiple of 32 in [32, 1024] (the launcher uses fewer
///                        when a row has fewer words), or 0: the lane kernel
///                        (StaticSplitLanePolicy<>, its own stages) for at least auto_lane_rows
///                        tokens where it serves; else 128 threads, 8 a SM, for K up to
///                        auto_small_k and at least auto_small_rows tokens, else 512.
/// \tparam Stages         rows of X a block holds (1 to 3); the launcher uses fewer when more
///                        would lower the number of blocks per SM.
/// \tparam MinBlocksPerSm blocks the compiler must fit on one SM (caps registers per thread);
///                        not used when Threads is 0.
/// \tparam WordsInFlight  output words a lane quantizes at once in pass 2 (1 or 2): their
///                        gathers from shared memory overlap.
template <int Threads = 0, int Stages = 3, int MinBlocksPerSm = 2, int WordsInFlight = 1>
struct StaticSplitColumnPolicy {
  static_assert(Threads == 0 || (Threads % 32 == 0 && Threads >= 32 && Threads <= 1024),
                "StaticSplitColumnPolicy: Threads must be 0 (pick by K) or a multiple of 32 in "
                "[32, 1024]");
  static_assert(Stages >= 1 && Stages <= 3, "StaticSplitColumnPolicy: Stages must lie in [1, 3]");
  static_assert(
      MinBlocksPerSm >= 1 && MinBlocksPerSm * Threads <= 2048,
      "StaticSplitColumnPolicy: MinBlocksPerSm * Threads must not exceed 2048 threads a SM");
  static_assert(WordsInFlight == 1 || WordsInFlight == 2,
                "StaticSplitColumnPolicy: WordsInFlight must be 1 or 2");
  static constexpr int threads = Threads;
  static constexpr int max_stages = Stages;
  static constexpr int min_blocks_per_sm = MinBlocksPerSm;
  static constexpr int words_in_flight = WordsInFlight;
  static constexpr int auto_small_k = 8192;
  static constexpr int auto_small_rows = 1024;
  /// Fewest tokens for which Threads = 0 runs the lane kernel (StaticSplitLanePolicy<>) where it
  /// serves the config and K. H100, SqConfig<64, 8, 8, 4>: 1.1-1.3x the column kernel at
  /// M = 2048 and 8192; at M = 16 0.95x (K = 4096) to 1.5x (K = 28672); at M = 1 about 0.5x (one
  /// block checks the whole low part of the permutation with a lane per span).
  static constexpr int auto_lane_rows = 16;
};

/// Policy of the lane static quantize-and-split kernel: persistent blocks, a token row at a time
/// with the next MaxStages - 1 rows loading, each lane owning whole banks of the row (the fewest
/// after which its high and its low codes end on a 32-bit word), so that it writes its own output
/// words: no channel table, no gather of the low channels, one block barrier a row. Serves 8- or
/// 4-bit high and 4- or 2-bit low codes with per-token scales and K a multiple of a lane's banks;
/// the rest (and rows with more spans than MaxThreads) runs the column kernel with
/// StaticSplitColumnPolicy<>'s blocks.
///
/// \tparam MaxStages  rows of X a block holds in shared memory (1 to 8); the launcher uses fewer
///                    when more would lower the number of blocks per SM.
/// \tparam MaxThreads largest block (a lane per span of the row: K = 8192 with 64-channel banks
///                    takes 128 threads); also sets the register cap (65536 / MaxThreads). A row
///                    with more spans runs as StaticSplitColumnPolicy<>.
/// \tparam MaxRegisters register cap instead of 65536 / MaxThreads (0: that one).
template <int MaxStages = 2, int MaxThreads = 512, int MaxRegisters = 0>
struct StaticSplitLanePolicy {
  static_assert(MaxStages >= 1 && MaxStages <= 8,
                "StaticSplitLanePolicy: MaxStages must lie in [1, 8]");
  static_assert(MaxRegisters == 0 || (MaxRegisters >= 32 && MaxRegisters <= 255),
                "StaticSplitLanePolicy: MaxRegisters must be 0 or lie in [32, 255]");
  static_assert(MaxThreads % 32 == 0 && MaxThreads >= 32 && MaxThreads <= 1024,
                "StaticSplitLanePolicy: MaxThreads must be a multiple of 32 in [32, 1024]");
  static constexpr int max_stages = MaxStages;
  static constexpr int max_threads = MaxThreads;
  static constexpr int max_registers = MaxRegisters;
};

/// The default of static_quantize_split.
using StaticSplitDefaultPolicy = StaticSplitColumnPolicy<>;

/// Policy of the kernels that read or write an SQ tensor bank by bank (dynamic activation
/// quantizer, weight packer, dequantizer).
///
/// A bank of b elements is handled by b / ElementsPerLane consecutive lanes of one warp (a
/// "bank group"); each lane holds ElementsPerLane consecutive elements in registers. A block
/// covers one row and a tile of about TileElements elements of it.
///
/// \tparam Threads          threads per block, a multiple of 32 in [32, 1024].
/// \tparam ElementsPerLane  elements per lane; 0 picks a default for the config.
/// \tparam TileElements     elements of a row per block (rounded so that every tile starts on a
///                          32-bit word of both packed outputs).
/// \tparam MinBlocksPerSm   blocks the compiler must fit on one SM (caps registers per thread).
template <int Threads = 256, int ElementsPerLane = 0, int TileElements = 4096,
          int MinBlocksPerSm = 1>
struct SqBankPolicy {
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024,
                "SqBankPolicy: Threads must be a multiple of 32 in [32, 1024]");
  static_assert(ElementsPerLane >= 0 && TileElements > 0,
                "SqBankPolicy: ElementsPerLane must be >= 0 (0 = default) and TileElements > 0");
  static constexpr int threads = Threads;
  static constexpr int requested_elements_per_lane = ElementsPerLane;
  static constexpr int tile_elements = TileElements;
  static constexpr int min_blocks_per_sm = MinBlocksPerSm;
};

/// What a policy means for one config: the derived shape of a bank group and of a tile.
template <class Config, class Policy> struct SqBankShape {
  static constexpr int bank = Config::bank;
  /// Default: 8 elements per lane, but never more than 32 lanes per bank.
  static constexpr int elements_per_lane =
      Policy::requested_elements_per_lane != 0
          ? Policy::requested_elements_per_lane
          : detail::max_int(detail::min_int(bank, 8), bank / 32);
  static_assert(bank % elements_per_lane == 0,
                "SqBankPolicy: ElementsPerLane must divide the bank size");
  static constexpr int lanes_per_bank = bank / elements_per_lane;
  static_assert(lanes_per_bank <= 32, "SqBankPolicy: a bank must fit in one warp: choose "
                                      "ElementsPerLane >= bank / 32");
  static_assert(Policy::threads % lanes_per_bank == 0, "SqBankPolicy: bad thread count");
  static constexpr int groups_per_block = Policy::threads / lanes_per_bank;

  /// Fewest banks after which both packed outputs (dense low, compact high) end on a 32-bit
  /// word, so that tiles never share a word and each block writes whole words.
  static constexpr int word_banks =
      detail::lcm(32 / detail::gcd(bank * Config::low_bits, 32),
                  32 / detail::gcd(Config::high_per_bank * Config::high_bits, 32));
  static constexpr int tile_banks =
      detail::round_up(detail::max_int(Policy::tile_elements / bank, 1), word_banks);
  static constexpr int tile_low_codes = tile_banks * bank;
  static constexpr int tile_high_codes = tile_banks * Config::high_per_bank;
  /// Shared-memory bytes of the code buffers (padded for 16-byte vector reads).
  static constexpr int tile_low_bytes = detail::round_up(tile_low_codes, 16);
  static constexpr int tile_high_bytes = detail::round_up(tile_high_codes, 16);
};

} // namespace sqformat::gpu::datapath
