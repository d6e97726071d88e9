// sqformat host demo: packs one random 4096 x 4096 weight matrix and a batch of activations into
// several SQ-format configurations with the host reference and prints, per configuration, its
// storage and the error of the product Y = X W^T against float64 arithmetic on the un-quantized
// operands, for
//   W(SQ)A16         SQ weights (high = the H largest |w| per row and bank) times float activations
//   W4A(SQ) static   INT4 weights (group 128) times statically split activations (high channels
//                    chosen once by Algorithm 2, |mean|x_j| * sum_n w[n, j]|, one scale per
//                    token and block)
// and two uniform baselines. It checks its own results and exits 1 if a check fails.
//
//   sqformat_host_demo [--m 256] [--n-eval 256] [--seed <u64>]
// Storage is for the whole matrix; errors are measured on the first n-eval rows of W (all of them
// with --n-eval 4096), which keeps the run short.
#include "demo_data.hpp"

#include <sqformat/ptq/static_activation_mask.hpp>
#include <sqformat/reference.hpp>
#include <sqformat/reference/products.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ref = sqformat::ref;

namespace {

constexpr std::size_t kRows = 4096;       // N, output channels
constexpr std::size_t kK = 4096;          // K, input channels
constexpr std::size_t kWeightGroup = 128; // INT4 weights: one scale per row and 128 columns
constexpr double kErrorBound = 1.0;       // loose: a product this wrong carries no information
constexpr double kConsistencyBound = 1e-4;

struct Options {
  std::size_t m = 256;
  std::size_t n_eval = 256;
  std::uint64_t seed = 0;
};

/// Shared by all configurations: operands, the float64 oracle, the static channel importance.
struct Setup {
  demo::Problem p;
  std::size_t n_eval = 0;
  std::vector<double> oracle;       ///< M x n_eval, float64 product of the un-quantized operands
  std::vector<float> channel_score; ///< K: |mean_m |x[m, j]| * sum_n w[n, j]| (spec, Alg. 2)
};

struct Row {
  std::string name;
  double bits = 0;
  std::size_t w_bytes = 0, a_bytes = 0;
  double w_error = 0, a_error = 0;
  double w_consistency = 0, a_consistency = 0; ///< reference product vs float64 of its operands
};

/// Bytes of a uniform tensor stored packed: codes plus float32 scales.
std::size_t uniform_bytes(const ref::UniformTensor& u) {
  return u.rows * ref::packed_bytes(u.cols, u.bits) + u.scales.size() * sizeof(float);
}

/// The first n rows of an SQ tensor (rows are independent and stored row-major).
template <class C> ref::SqTensor<C> head_rows(const ref::SqTensor<C>& t, std::size_t n) {
  ref::SqTensor<C> h = ref::make_sq_tensor<C>(n, t.cols);
  std::memcpy(h.low.data(), t.low.data(), n * t.low_row_bytes);
  std::memcpy(h.high.data(), t.high.data(), n * t.high_row_bytes);
  std::memcpy(h.scale_low.data(), t.scale_low.data(), n * t.banks() * sizeof(float));
  std::memcpy(h.scale_high.data(), t.scale_high.data(), n * t.banks() * sizeof(float));
  return h;
}

template <class C> Row evaluate_sq(const Setup& s) {
  const demo::Problem& p = s.p;
  Row row{ref::config_name<C>(), C::effective_bits};

  // W(SQ)A16: the H largest |w| of every (row, bank) are high.
  const ref::SqTensor<C> w_sq = ref::quantize_dynamic<C>(p.w.data(), p.N, p.K);
  row.w_bytes = w_sq.low.size() + w_sq.high.size() +
                (w_sq.scale_low.size() + w_sq.scale_high.size()) * sizeof(float);
  const ref::SqTensor<C> w_eval = head_rows(w_sq, s.n_eval);
  const std::vector<float> y_w = ref::sq_weight_times_float(w_eval, p.x.data(), p.M);
  row.w_error = demo::relative_frobenius(y_w, s.oracle);
  const std::vector<double> w_deq = ref::dequantize_double(w_eval);
  row.w_consistency =
      demo::relative_frobenius(y_w, demo::matmul_f64(p.x.data(), w_deq.data(), p.M, s.n_eval, p.K));

  // W4A(SQ) static: per bank the H most important channels are high; K is permuted so that
  // they form one block, and W's columns are permuted the same way before quantizing.
  const std::vector<std::uint8_t> mask = ref::select_top_h<C>(s.channel_score.data(), 1, p.K);
  const std::vector<std::uint32_t> perm = ref::permutation_from_channel_mask<C>(mask.data(), p.K);
  const ref::StaticSplit<C> x_sq =
      ref::split_static<C>(p.x.data(), p.M, p.K, perm, ref::ActScale::per_token);
  row.a_bytes = x_sq.x_high.size() + x_sq.x_low.size() +
                (x_sq.scale_high.size() + x_sq.scale_low.size()) * sizeof(float);
  const std::vector<float> w_perm = ref::permute_columns(p.w.data(), s.n_eval, p.K, perm);
  const ref::UniformTensor w4 =
      ref::quantize_uniform(w_perm.data(), s.n_eval, p.K, 4, kWeightGroup);
  const std::vector<float> y_a = ref::uniform_weight_times_static(w4, x_sq);
  row.a_error = demo::relative_frobenius(y_a, s.oracle);
  const std::vector<double> x_deq = ref::dequantize_double_permuted(x_sq);
  const std::vector<double> w4_deq = ref::dequantize_double(w4);
  row.a_consistency = demo::relative_frobenius(
      y_a, demo::matmul_f64(x_deq.data(), w4_deq.data(), p.M, s.n_eval, p.K));
  return row;
}

/// Uniform baseline: W at `bits` (group 128) times float activations, and INT4 weights (group
/// 128) times activations at `bits` (one scale per token). Products of the dequantized operands
/// in float64.
Row evaluate_uniform(const Setup& s, int bits) {
  const demo::Problem& p = s.p;
  Row row{"INT" + std::to_string(bits) + " uniform", double(bits)};
  const ref::UniformTensor w_q = ref::quantize_uniform(p.w.data(), p.N, p.K, bits, kWeightGroup);
  row.w_bytes = uniform_bytes(w_q);
  const ref::UniformTensor w_eval =
      ref::quantize_uniform(p.w.data(), s.n_eval, p.K, bits, kWeightGroup);
  const std::vector<double> w_deq = ref::dequantize_double(w_eval);
  row.w_error = demo::relative_frobenius(
      demo::matmul_f64(p.x.data(), w_deq.data(), p.M, s.n_eval, p.K), s.oracle);
  const ref::UniformTensor x_q = ref::quantize_uniform(p.x.data(), p.M, p.K, bits, p.K);
  row.a_bytes = uniform_bytes(x_q);
  const ref::UniformTensor w4 = ref::quantize_uniform(p.w.data(), s.n_eval, p.K, 4, kWeightGroup);
  const std::vector<double> x_deq = ref::dequantize_double(x_q);
  const std::vector<double> w4_deq = ref::dequantize_double(w4);
  row.a_error = demo::relative_frobenius(
      demo::matmul_f64(x_deq.data(), w4_deq.data(), p.M, s.n_eval, p.K), s.oracle);
  return row;
}

bool parse(int argc, char** argv, Options& o) {
  o.seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const unsigned long long v = std::strtoull(argv[i + 1], nullptr, 10);
    if (key == "--m" && v > 0) {
      o.m = v;
    } else if (key == "--n-eval" && v > 0 && v <= kRows) {
      o.n_eval = v;
    } else if (key == "--seed") {
      o.seed = v;
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

} // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) {
    std::fprintf(stderr, "usage: %s [--m M] [--n-eval 1..4096] [--seed S]\n", argv[0]);
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  Setup s{demo::make_problem(opt.m, kRows, kK, opt.seed), opt.n_eval, {}, {}};
  s.oracle = demo::matmul_f64(s.p.x.data(), s.p.w.data(), s.p.M, s.n_eval, s.p.K);
  // Algorithm 2's channel importance; here the "calibration" batch is the demo batch itself.
  std::vector<double> mean_abs(kK, 0.0);
  for (std::size_t m = 0; m < s.p.M; ++m) {
    for (std::size_t j = 0; j < kK; ++j) {
      mean_abs[j] += std::fabs(s.p.x[m * kK + j]) / double(s.p.M);
    }
  }
  s.channel_score = sqformat::ptq::channel_importance(mean_abs, s.p.w.data(), kRows, kK,
                                                      sqformat::ptq::ChannelRanking::paper);

  std::printf("sqformat host demo: W %zux%zu, X %zux%zu (seed %llu); errors on %zu of %zu rows of "
              "W\n\n",
              kRows, kK, s.p.M, kK, static_cast<unsigned long long>(opt.seed), s.n_eval, kRows);
  std::vector<Row> rows;
  rows.push_back(evaluate_sq<sqformat::SqConfig<16, 8>>(s));
  rows.push_back(evaluate_sq<sqformat::SqConfig<16, 4>>(s));
  rows.push_back(evaluate_sq<sqformat::SqConfig<64, 8>>(s));
  rows.push_back(evaluate_sq<sqformat::SqConfig<128, 8>>(s));
  rows.push_back(evaluate_sq<sqformat::SqConfig<32, 16, 8, 2>>(s));
  rows.push_back(evaluate_uniform(s, 8));
  rows.push_back(evaluate_uniform(s, 4));

  std::printf("%-22s %6s | %12s %11s | %12s %11s\n", "config", "bits", "W bytes", "W(.)A16 err",
              "X bytes", "W4A(.) err");
  for (const Row& r : rows) {
    std::printf("%-22s %6.2f | %12zu %11.3e | %12zu %11.3e\n", r.name.c_str(), r.bits, r.w_bytes,
                r.w_error, r.a_bytes, r.a_error);
  }
  std::printf(
      "\nbits: effective bits (scales excluded). bytes: codes + float32 scales of the whole "
      "matrix\n(SQ weights keep a low code at every position, sentinels included; the "
      "static split stores\nexactly H high and b-H low codes per bank; the K permutation "
      "is stored once per layer).\nerr: ||Y - Y64||_F / ||Y64||_F, Y64 the float64 product "
      "of the un-quantized operands.\nSQ rows use the reference products; uniform rows "
      "multiply the dequantized operands in float64.\n");

  // Self-checks: every error finite and sane, the reference products agree with float64
  // products of their own quantized operands, and SQ6 (half INT8) beats uniform INT4.
  bool ok = true;
  auto check = [&ok](bool good, const std::string& what) {
    if (!good) {
      std::printf("CHECK FAILED: %s\n", what.c_str());
      ok = false;
    }
  };
  for (const Row& r : rows) {
    check(std::isfinite(r.w_error) && r.w_error < kErrorBound, r.name + ": W(.)A16 error");
    check(std::isfinite(r.a_error) && r.a_error < kErrorBound, r.name + ": W4A(.) error");
    check(r.w_consistency < kConsistencyBound && r.a_consistency < kConsistencyBound,
          r.name + ": product disagrees with float64 on its quantized operands (" +
              std::to_string(r.w_consistency) + ", " + std::to_string(r.a_consistency) + ")");
  }
  const Row& sq6 = rows.front();
  const Row& int4 = rows.back();
  check(sq6.w_error < int4.w_error, "SQ6 weights are not more accurate than INT4 weights");
  check(sq6.a_error < int4.a_error, "SQ6 activations are not more accurate than INT4 ones");

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n%s (%.1f s)\n", ok ? "all checks passed" : "SOME CHECKS FAILED", seconds);
  return ok ? 0 : 1;
}
