// Writing the evaluation table: markdown and an SVG plot of perplexity vs effective bits.
#pragma once

#include <sqformat/eval/quant_scheme.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace sq_eval {

struct Row {
  sqformat::eval::QuantScheme scheme;
  double ppl = 0.0;
  double seconds = 0.0;
  std::string skipped; ///< non-empty: the scheme cannot run on this model (why)
  bool ran() const { return skipped.empty(); }
  double w_bits() const { return scheme.weight_effective_bits(); }
  double a_bits() const { return scheme.act_effective_bits(); }
  double mean_bits() const { return 0.5 * (w_bits() + a_bits()); }
};

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

inline std::string delta(double ppl, double base) {
  if (base <= 0.0)
    return "n/a";
  return fmt("%+.2f", ppl - base) + " (" + fmt("%+.1f", 100.0 * (ppl / base - 1.0)) + "%)";
}

/// `text` with the markdown table separator '|' escaped.
inline std::string md_cell(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|')
      out += '\\';
    out += c;
  }
  return out;
}

inline std::string markdown_table(const std::vector<Row>& rows) {
  double base = 0.0, w4a8 = 0.0;
  for (const auto& r : rows) {
    if (r.scheme.weight == sqformat::eval::WeightQuant::none &&
        r.scheme.act == sqformat::eval::ActQuant::none) {
      base = r.ppl;
    }
    if (r.scheme.name == "W4A8 GPTQ g64") {
      w4a8 = r.ppl;
    }
  }
  std::string s =
      "| # | scheme | W bits | A bits | perplexity | vs float | vs W4A8 GPTQ | time (s) |\n"
      "|---|---|---|---|---|---|---|---|\n";
  int k = 1;
  for (const auto& r : rows) {
    if (!r.ran()) {
      s += "| " + std::to_string(k++) + " | " + md_cell(r.scheme.name) + " | " +
           fmt("%.3g", r.w_bits()) + " | " + fmt("%.3g", r.a_bits()) +
           " | n/a: " + md_cell(r.skipped) + " | | | |\n";
      continue;
    }
    s += "| " + std::to_string(k++) + " | " + md_cell(r.scheme.name) + " | " +
         fmt("%.3g", r.w_bits()) + " | " + fmt("%.3g", r.a_bits()) + " | " + fmt("%.3f", r.ppl) +
         " | " + delta(r.ppl, base) + " | " + delta(r.ppl, w4a8) + " | " + fmt("%.0f", r.seconds) +
         " |\n";
  }
  return s;
}

/// Scatter plot: x = mean of the weight and activation effective bits, y = perplexity.
inline std::string svg_plot(const std::vector<Row>& rows, const std::string& title) {
  const double W = 900, H = 560, L = 70, R = 330, T = 50, B = 60;
  double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9;
  for (const auto& r : rows) {
    if (!r.ran())
      continue;
    xmin = std::min(xmin, r.mean_bits());
    xmax = std::max(xmax, r.mean_bits());
    ymin = std::min(ymin, std::log10(r.ppl));
    ymax = std::max(ymax, std::log10(r.ppl));
  }
  xmin = std::floor(xmin) - 0.5;
  xmax = std::ceil(xmax) + 0.5;
  const double pad = 0.08 * (ymax - ymin + 1e-9);
  ymin -= pad;
  ymax += pad;
  auto X = [&](double v) { return L + (v - xmin) / (xmax - xmin) * (W - L - R); };
  // Perplexity on a log scale: the rows span from ~30 to ~10^4.
  auto Y = [&](double v) { return H - B - (std::log10(v) - ymin) / (ymax - ymin) * (H - T - B); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) +
                  "\" height=\"" + fmt("%.0f", H) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt("%.0f", L) + "\" y=\"28\" font-size=\"15\">" + title + "</text>\n";
  s += "<line x1=\"" + fmt("%.1f", L) + "\" y1=\"" + fmt("%.1f", H - B) + "\" x2=\"" +
       fmt("%.1f", W - R) + "\" y2=\"" + fmt("%.1f", H - B) + "\" stroke=\"black\"/>\n";
  s += "<line x1=\"" + fmt("%.1f", L) + "\" y1=\"" + fmt("%.1f", T) + "\" x2=\"" + fmt("%.1f", L) +
       "\" y2=\"" + fmt("%.1f", H - B) + "\" stroke=\"black\"/>\n";
  for (double v = std::ceil(xmin); v <= xmax; v += 1.0) {
    s += "<text x=\"" + fmt("%.1f", X(v)) + "\" y=\"" + fmt("%.1f", H - B + 18) +
         "\" text-anchor=\"middle\">" + fmt("%.0f", v) + "</text>\n";
  }
  for (int i = 0; i <= 5; ++i) {
    const double v = std::pow(10.0, ymin + (ymax - ymin) * i / 5.0);
    s += "<text x=\"" + fmt("%.1f", L - 8) + "\" y=\"" + fmt("%.1f", Y(v) + 4) +
         "\" text-anchor=\"end\">" + fmt("%.3g", v) + "</text>\n";
    s += "<line x1=\"" + fmt("%.1f", L) + "\" y1=\"" + fmt("%.1f", Y(v)) + "\" x2=\"" +
         fmt("%.1f", W - R) + "\" y2=\"" + fmt("%.1f", Y(v)) + "\" stroke=\"#ddd\"/>\n";
  }
  s += "<text x=\"" + fmt("%.1f", (L + W - R) / 2) + "\" y=\"" + fmt("%.1f", H - 15) +
       "\" text-anchor=\"middle\">mean effective bits of weights and activations</text>\n";
  s += "<text x=\"18\" y=\"" + fmt("%.1f", (T + H - B) / 2) + "\" transform=\"rotate(-90 18 " +
       fmt("%.1f", (T + H - B) / 2) + ")\" text-anchor=\"middle\">perplexity (log scale)</text>\n";
  int k = 0;
  for (const auto& r : rows) {
    ++k;
    if (!r.ran())
      continue;
    const bool sq = r.scheme.act == sqformat::eval::ActQuant::sq_static ||
                    r.scheme.act == sqformat::eval::ActQuant::sq_dynamic ||
                    r.scheme.weight == sqformat::eval::WeightQuant::sq_gptq ||
                    r.scheme.weight == sqformat::eval::WeightQuant::sq_rtn;
    s += "<circle cx=\"" + fmt("%.1f", X(r.mean_bits())) + "\" cy=\"" + fmt("%.1f", Y(r.ppl)) +
         "\" r=\"4\" fill=\"" + (sq ? "#d62728" : "#1f77b4") + "\"/>\n";
    s += "<text x=\"" + fmt("%.1f", X(r.mean_bits()) + 6) + "\" y=\"" + fmt("%.1f", Y(r.ppl) - 4) +
         "\" font-size=\"10\">" + std::to_string(k) + "</text>\n";
    s += "<text x=\"" + fmt("%.1f", W - R + 15) + "\" y=\"" + fmt("%.1f", T + 14.0 * k) +
         "\" font-size=\"10\" fill=\"" + (sq ? "#d62728" : "#1f77b4") + "\">" + std::to_string(k) +
         ": " + r.scheme.name + " (" + fmt("%.2f", r.ppl) + ")</text>\n";
  }
  s += "</svg>\n";
  return s;
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

} // namespace sq_eval
