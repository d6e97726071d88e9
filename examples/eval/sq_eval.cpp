// sq_eval: perplexity of SmolLM2-135M on WikiText-2 with the linear layers in SQ-format and the
// uniform baselines, using the library's reference quantizers and PTQ.
//
//   sq_eval --quick                      a few schemes on a slice (< 10 minutes on 2 cores)
//   sq_eval [--window 512] [--windows 8] [--calib-segments 8] [--calib-window 512]
//           [--only 1,5,8] [--product fake|reference] [--model X.gguf] [--data DIR]
//           [--markdown table.md] [--svg plot.svg]
//
// Calibration text: wikitext-2/valid.txt (first segments); evaluation text:
// wikitext-2-raw/wiki.test.raw. See docs/evaluation.md for the protocol and results.
#include "report.hpp"
#include "schemes.hpp"

#include <sqformat/eval/bpe_tokenizer.hpp>
#include <sqformat/eval/calibration.hpp>
#include <sqformat/eval/model_location.hpp>
#include <sqformat/eval/perplexity.hpp>
#include <sqformat/eval/quantized_linear.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace sqformat::eval;

namespace {

struct Options {
  std::string model = default_model_path();
  std::string data = env_or("SQFORMAT_DATA_DIR", SQ_EVAL_DEFAULT_DATA_DIR);
  std::size_t window = 512, windows = 8, calib_segments = 8, calib_window = 512;
  bool quick = false;
  std::string only, markdown = "sq_eval_table.md", svg = "sq_eval_plot.svg";
  Product product = Product::fake_quant;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw sqformat::Error(sqformat::ErrorCode::io_error,
                          "cannot open '" + path +
                              "'; pass --data DIR (the folder holding "
                              "wikitext-2-raw/ and wikitext-2/) or set SQFORMAT_DATA_DIR");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void usage() {
  std::puts("usage: sq_eval [--quick] [--window T] [--windows N (0 = all)] [--calib-segments S]\n"
            "               [--calib-window T] [--only i,j,...] [--product fake|reference]\n"
            "               [--model FILE.gguf] [--data DIR] [--markdown FILE] [--svg FILE]");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw sqformat::Error(sqformat::ErrorCode::invalid_argument, a + " needs a value");
      }
      return argv[++i];
    };
    if (a == "--quick") {
      o.quick = true;
      o.window = 256;
      o.windows = 4;
      o.calib_segments = 2;
      o.calib_window = 256;
    } else if (a == "--window")
      o.window = std::stoul(next());
    else if (a == "--windows")
      o.windows = std::stoul(next());
    else if (a == "--calib-segments")
      o.calib_segments = std::stoul(next());
    else if (a == "--calib-window")
      o.calib_window = std::stoul(next());
    else if (a == "--only")
      o.only = next();
    else if (a == "--model")
      o.model = next();
    else if (a == "--data")
      o.data = next();
    else if (a == "--markdown")
      o.markdown = next();
    else if (a == "--svg")
      o.svg = next();
    else if (a == "--product") {
      const std::string p = next();
      if (p != "fake" && p != "reference") {
        throw sqformat::Error(sqformat::ErrorCode::invalid_argument, "--product fake|reference");
      }
      o.product = p == "fake" ? Product::fake_quant : Product::reference;
    } else if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else {
      usage();
      throw sqformat::Error(sqformat::ErrorCode::invalid_argument, "unknown option " + a);
    }
  }
  return o;
}

int run(const Options& o) {
  const auto t_start = std::chrono::steady_clock::now();
  if (!file_exists(o.model)) {
    std::fprintf(stderr,
                 "sq_eval: model not found at '%s'; run scripts/fetch_model.sh or pass "
                 "--model\n",
                 o.model.c_str());
    return 2;
  }
  const GgufFile file = GgufFile::open(o.model);
  const BpeTokenizer tokenizer = BpeTokenizer::from_gguf(file);
  const LlamaWeights model = load_llama(file);
  const std::vector<int> test =
      tokenizer.encode(read_text(o.data + "/wikitext-2-raw/wiki.test.raw"));
  const std::vector<int> valid = tokenizer.encode(read_text(o.data + "/wikitext-2/valid.txt"));
  std::printf("model %s: %zu layers, dim %zu, vocab %zu; test %zu tokens, calibration text %zu "
              "tokens (%.1f s)\n",
              o.model.c_str(), model.config.layers, model.config.dim, model.config.vocab,
              test.size(), valid.size(), seconds_since(t_start));

  std::vector<QuantScheme> schemes = o.quick ? sq_eval::quick_schemes() : sq_eval::full_schemes();
  if (!o.only.empty()) {
    std::vector<QuantScheme> picked;
    std::stringstream ss(o.only);
    for (std::string item; std::getline(ss, item, ',');) {
      const std::size_t k = std::stoul(item);
      if (k < 1 || k > schemes.size()) {
        throw sqformat::Error(sqformat::ErrorCode::invalid_argument, "--only: no row " + item);
      }
      picked.push_back(schemes[k - 1]);
    }
    schemes = picked;
  }

  // Calibration: the first segments of the validation text through the float model.
  Calibration calibration(model);
  bool need_calibration = false;
  for (const auto& s : schemes)
    need_calibration = need_calibration || s.needs_calibration();
  if (need_calibration) {
    const auto t0 = std::chrono::steady_clock::now();
    FloatLinear fl(model);
    LlamaForward fw(model, fl, &calibration);
    for (std::size_t s = 0; s < o.calib_segments && (s + 1) * o.calib_window <= valid.size(); ++s) {
      const std::vector<int> seg(valid.begin() + static_cast<std::ptrdiff_t>(s * o.calib_window),
                                 valid.begin() +
                                     static_cast<std::ptrdiff_t>((s + 1) * o.calib_window));
      (void)fw.hidden(seg);
    }
    std::printf("calibration: %zu tokens (%zu segments of %zu) in %.1f s\n", calibration.tokens(),
                o.calib_segments, o.calib_window, seconds_since(t0));
  }

  WeightCache cache;
  std::vector<sq_eval::Row> rows;
  for (const auto& scheme : schemes) {
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<QuantizedLinear> backend;
    try {
      backend.emplace(model, scheme, &calibration, &cache, o.product);
    } catch (const sqformat::Error& e) {
      // A scheme this model's shapes cannot take (e.g. a bank that does not divide K = 576):
      // reported as a row that did not run, never silently dropped.
      if (e.code() != sqformat::ErrorCode::k_not_multiple_of_bank &&
          e.code() != sqformat::ErrorCode::shape_mismatch) {
        throw;
      }
      sq_eval::Row row{scheme, 0.0, seconds_since(t0), e.what()};
      rows.push_back(row);
      std::printf("%-45s not run: %s\n", scheme.name.c_str(), e.what());
      std::fflush(stdout);
      continue;
    }
    const double t_prep = seconds_since(t0);
    LlamaForward fw(model, *backend);
    const PerplexityResult r = perplexity(fw, test, o.window, o.windows);
    sq_eval::Row row{scheme, r.perplexity(), seconds_since(t0), {}};
    rows.push_back(row);
    std::printf("%-45s W %4.3g A %4.3g  ppl %8.3f  (%zu windows x %zu, %zu predictions; "
                "quantize %.0f s, total %.0f s)\n",
                scheme.name.c_str(), row.w_bits(), row.a_bits(), row.ppl, r.windows, o.window,
                r.count, t_prep, row.seconds);
    std::fflush(stdout);
  }

  const std::string table = sq_eval::markdown_table(rows);
  std::printf("\n%s", table.c_str());
  std::ostringstream header;
  header << "SmolLM2-135M-Instruct (GGUF Q4_1 weights dequantized), WikiText-2 test, "
         << (o.windows == 0 ? std::string("all") : std::to_string(o.windows)) << " windows of "
         << o.window << " tokens; calibration " << calibration.tokens()
         << " tokens of wikitext-2 valid\n\n";
  sq_eval::write_file(o.markdown, header.str() + table);
  sq_eval::write_file(o.svg, sq_eval::svg_plot(rows, "SmolLM2-135M, WikiText-2 perplexity vs "
                                                     "effective bits (red: SQ-format)"));
  std::printf("wrote %s and %s; total %.0f s\n", o.markdown.c_str(), o.svg.c_str(),
              seconds_since(t_start));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sq_eval: %s\n", e.what());
    return 1;
  }
}
