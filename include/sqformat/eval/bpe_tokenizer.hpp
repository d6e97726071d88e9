// sqformat/eval/bpe_tokenizer.hpp: the byte-level BPE tokenizer of GPT-2-style models, as the
// SmolLM2 GGUF describes it (tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre = "smollm").
//
// Encoding a text, in the order the Hugging Face `tokenizers` pipeline of this model applies:
//  1. Special tokens (GGUF token type 3 "control" and 4 "user defined", e.g. <|endoftext|>) are
//     cut out of the raw text first, leftmost-longest, and map to their ids directly.
//  2. Every Unicode number (\p{N}) becomes a piece of its own ("Digits, individual_digits").
//  3. Each piece is split by the GPT-2 regex
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     implemented by hand below (no regex engine: std::regex has no \p{..}).
//  4. The bytes of each regex match are mapped to printable code points (GPT-2 byte-to-unicode
//     table), and BPE merges (tokenizer.ggml.merges, rank = position) are applied: repeatedly
//     the adjacent pair of lowest rank, leftmost on ties, until no pair has a merge.
// No BOS/EOS is added (tokenizer.ggml.add_bos_token is false for this model); callers decide.
// Input bytes that are not valid UTF-8 are treated as single "other" characters. Bytes whose
// token is missing from the vocabulary are dropped (no unknown token), as Hugging Face does.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/gguf_file.hpp>
#include <sqformat/eval/unicode_tables.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sqformat::eval {

namespace unicode {

inline bool in_ranges(const CodepointRange* begin, const CodepointRange* end, std::uint32_t cp) {
  const CodepointRange* it = std::upper_bound(
      begin, end, cp, [](std::uint32_t v, const CodepointRange& r) { return v < r.first; });
  return it != begin && cp <= (it - 1)->last;
}
inline bool is_letter(std::uint32_t cp) {
  return in_ranges(std::begin(letter_ranges), std::end(letter_ranges), cp);
}
inline bool is_number(std::uint32_t cp) {
  return in_ranges(std::begin(number_ranges), std::end(number_ranges), cp);
}
/// The Unicode White_Space property (what \s matches in a Unicode regex).
inline bool is_space(std::uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

/// One decoded character: its code point and its byte range in the text.
struct Char {
  std::uint32_t cp;
  std::size_t begin;
  std::size_t end;
};

/// Decodes UTF-8; an invalid or truncated sequence yields one pseudo character per byte
/// (code point 0xFFFFFFFF, never a letter, number or space).
inline std::vector<Char> decode_utf8(const std::string& s, std::size_t begin, std::size_t end) {
  std::vector<Char> out;
  out.reserve(end - begin);
  std::size_t i = begin;
  while (i < end) {
    const auto c0 = static_cast<unsigned char>(s[i]);
    int len = c0 < 0x80           ? 1
              : (c0 >> 5) == 0x6  ? 2
              : (c0 >> 4) == 0xE  ? 3
              : (c0 >> 3) == 0x1E ? 4
                                  : 0;
    std::uint32_t cp = len == 1   ? c0
                       : len == 2 ? (c0 & 0x1Fu)
                       : len == 3 ? (c0 & 0x0Fu)
                                  : (c0 & 0x07u);
    bool ok = len > 0 && i + static_cast<std::size_t>(len) <= end;
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      ok = (c >> 6) == 0x2;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (!ok) {
      out.push_back({0xFFFFFFFFu, i, i + 1});
      ++i;
    } else {
      out.push_back({cp, i, i + static_cast<std::size_t>(len)});
      i += static_cast<std::size_t>(len);
    }
  }
  return out;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

} // namespace unicode

/// Splits chars[0, n) by the GPT-2 regex (step 3 above); returns [begin, end) char index pairs.
inline std::vector<std::pair<std::size_t, std::size_t>>
gpt2_regex_split(const std::vector<unicode::Char>& chars) {
  using unicode::is_letter;
  using unicode::is_number;
  using unicode::is_space;
  const std::size_t n = chars.size();
  auto cp = [&](std::size_t i) { return i < n ? chars[i].cp : 0xFFFFFFFEu; };
  auto is_other = [&](std::size_t i) {
    return i < n && !is_space(cp(i)) && !is_letter(cp(i)) && !is_number(cp(i));
  };
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t i = 0;
  while (i < n) {
    const std::uint32_t c = cp(i);
    // 's|'t|'re|'ve|'m|'ll|'d (case sensitive, as in the GPT-2 pattern)
    if (c == '\'') {
      const std::uint32_t a = cp(i + 1), b = cp(i + 2);
      std::size_t len = 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        len = 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        len = 3;
      if (len > 0) {
        out.emplace_back(i, i + len);
        i += len;
        continue;
      }
    }
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional single U+0020 then a run.
    const std::size_t s = (c == ' ' && i + 1 < n) ? i + 1 : i;
    if (s < n && (is_letter(cp(s)) || is_number(cp(s)) || is_other(s))) {
      std::size_t j = s + 1;
      if (is_letter(cp(s))) {
        while (j < n && is_letter(cp(j)))
          ++j;
      } else if (is_number(cp(s))) {
        while (j < n && is_number(cp(j)))
          ++j;
      } else {
        while (is_other(j))
          ++j;
      }
      out.emplace_back(i, j);
      i = j;
      continue;
    }
    // '\s+(?!\S)|\s+': a whitespace run; if a non-space follows, leave its last char to it,
    // unless the run is a single char.
    std::size_t j = i;
    while (j < n && is_space(cp(j)))
      ++j;
    if (j == i) { // cannot happen (every char is letter, number, other or space); be safe
      out.emplace_back(i, i + 1);
      ++i;
      continue;
    }
    if (j < n && j - i > 1)
      --j;
    out.emplace_back(i, j);
    i = j;
  }
  return out;
}

class BpeTokenizer {
public:
  /// Builds the tokenizer from the GGUF metadata tokenizer.ggml.{model,tokens,token_type,merges}.
  static BpeTokenizer from_gguf(const GgufFile& f) {
    const std::string& model = f.get_string("tokenizer.ggml.model");
    if (model != "gpt2") {
      throw Error(ErrorCode::format_mismatch, "tokenizer: model '" + model +
                                                  "' is not supported (only byte-level BPE, "
                                                  "'gpt2')");
    }
    const GgufValue& tokens = f.value("tokenizer.ggml.tokens");
    const GgufValue& merges = f.value("tokenizer.ggml.merges");
    std::vector<std::string> vocab;
    for (const auto& t : tokens.elements)
      vocab.push_back(t.s);
    std::vector<int> types(vocab.size(), 1);
    if (f.has("tokenizer.ggml.token_type")) {
      const auto& tt = f.value("tokenizer.ggml.token_type").elements;
      for (std::size_t k = 0; k < tt.size() && k < types.size(); ++k) {
        types[k] =
            static_cast<int>(tt[k].is_signed() ? tt[k].i : static_cast<std::int64_t>(tt[k].u));
      }
    }
    std::vector<std::string> merge_list;
    for (const auto& m : merges.elements)
      merge_list.push_back(m.s);
    return BpeTokenizer(std::move(vocab), types, merge_list);
  }

  /// vocab: token strings in byte-to-unicode form; types: GGUF token types (3 control, 4 user
  /// defined are special); merges: "left right" strings, earlier = higher priority.
  BpeTokenizer(std::vector<std::string> vocab, const std::vector<int>& types,
               const std::vector<std::string>& merges)
      : vocab_(std::move(vocab)) {
    for (std::size_t k = 0; k < vocab_.size(); ++k)
      id_of_[vocab_[k]] = static_cast<int>(k);
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, byte_to_codepoint(b));
      // A byte without a token (SmolLM2 lacks a few control bytes) is dropped, as the Hugging
      // Face BPE model does when it has no unknown token.
      auto it = id_of_.find(s);
      byte_id_[static_cast<std::size_t>(b)] = it == id_of_.end() ? -1 : it->second;
      byte_of_cp_[byte_to_codepoint(b)] = static_cast<std::uint8_t>(b);
    }
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const std::string& m = merges[r];
      const std::size_t sp = m.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= m.size()) {
        throw Error(ErrorCode::format_mismatch,
                    "tokenizer: merge " + std::to_string(r) + " '" + m + "' is not 'left right'");
      }
      const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
      auto a = id_of_.find(left), b = id_of_.find(right), ab = id_of_.find(left + right);
      if (a == id_of_.end() || b == id_of_.end() || ab == id_of_.end())
        continue; // unusable
      merge_.emplace(pair_key(a->second, b->second),
                     std::make_pair(static_cast<int>(r), ab->second));
    }
    for (std::size_t k = 0; k < vocab_.size() && k < types.size(); ++k) {
      if (types[k] == 3 || types[k] == 4)
        specials_.emplace_back(vocab_[k], static_cast<int>(k));
    }
    // Longest first, so that leftmost-longest matching is a first-hit scan.
    std::sort(specials_.begin(), specials_.end(), [](const auto& x, const auto& y) {
      return x.first.size() > y.first.size() ||
             (x.first.size() == y.first.size() && x.second < y.second);
    });
  }

  std::size_t vocab_size() const { return vocab_.size(); }
  const std::string& token(int id) const { return vocab_.at(static_cast<std::size_t>(id)); }

  std::vector<int> encode(const std::string& text) const {
    std::vector<int> ids;
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
      int special = -1;
      std::size_t special_len = 0;
      for (const auto& [s, id] : specials_) {
        if (!s.empty() && text.compare(i, s.size(), s) == 0) {
          special = id;
          special_len = s.size();
          break;
        }
      }
      if (special < 0) {
        ++i;
        continue;
      }
      encode_plain(text, start, i, ids);
      ids.push_back(special);
      i += special_len;
      start = i;
    }
    encode_plain(text, start, text.size(), ids);
    return ids;
  }

  /// Concatenated bytes of the tokens (specials as their text).
  std::string decode(const std::vector<int>& ids) const {
    std::string out;
    for (int id : ids) {
      const std::string& t = token(id);
      bool special = false;
      for (const auto& sp : specials_)
        special = special || sp.second == id;
      if (special) {
        out += t;
        continue;
      }
      for (const auto& ch : unicode::decode_utf8(t, 0, t.size())) {
        auto it = byte_of_cp_.find(ch.cp);
        if (it != byte_of_cp_.end())
          out += static_cast<char>(it->second);
      }
    }
    return out;
  }

private:
  static std::uint32_t byte_to_codepoint(int b) {
    // GPT-2: printable bytes map to themselves, the other 68 to 256, 257, ... in byte order.
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
      return static_cast<std::uint32_t>(b);
    int n = 0;
    for (int k = 0; k < b; ++k) {
      if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || k >= 174))
        ++n;
    }
    return static_cast<std::uint32_t>(256 + n);
  }
  static std::uint64_t pair_key(int a, int b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }

  void encode_plain(const std::string& text, std::size_t begin, std::size_t end,
                    std::vector<int>& ids) const {
    if (begin >= end)
      return;
    const std::vector<unicode::Char> chars = unicode::decode_utf8(text, begin, end);
    // Step 2: isolate every number character; step 3 runs on each piece separately.
    std::size_t piece = 0;
    auto flush = [&](std::size_t piece_end) {
      if (piece_end <= piece)
        return;
      std::vector<unicode::Char> sub(chars.begin() + static_cast<std::ptrdiff_t>(piece),
                                     chars.begin() + static_cast<std::ptrdiff_t>(piece_end));
      for (const auto& [a, b] : gpt2_regex_split(sub)) {
        bpe_word(text, sub[a].begin, sub[b - 1].end, ids);
      }
    };
    for (std::size_t k = 0; k < chars.size(); ++k) {
      if (unicode::is_number(chars[k].cp)) {
        flush(k);
        piece = k;
        flush(k + 1);
        piece = k + 1;
      }
    }
    flush(chars.size());
  }

  void bpe_word(const std::string& text, std::size_t begin, std::size_t end,
                std::vector<int>& ids) const {
    const std::string word = text.substr(begin, end - begin);
    auto cached = cache_.find(word);
    if (cached != cache_.end()) {
      ids.insert(ids.end(), cached->second.begin(), cached->second.end());
      return;
    }
    std::vector<int> sym;
    sym.reserve(word.size());
    for (unsigned char b : word) {
      if (byte_id_[b] >= 0)
        sym.push_back(byte_id_[b]);
    }
    while (sym.size() > 1) {
      int best_rank = -1, best_id = -1;
      std::size_t best_pos = 0;
      for (std::size_t k = 0; k + 1 < sym.size(); ++k) {
        auto it = merge_.find(pair_key(sym[k], sym[k + 1]));
        if (it != merge_.end() && (best_rank < 0 || it->second.first < best_rank)) {
          best_rank = it->second.first;
          best_id = it->second.second;
          best_pos = k;
        }
      }
      if (best_rank < 0)
        break;
      sym[best_pos] = best_id;
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
    }
    if (cache_.size() < 200000)
      cache_.emplace(word, sym);
    ids.insert(ids.end(), sym.begin(), sym.end());
  }

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int> id_of_;
  int byte_id_[256] = {};
  std::map<std::uint32_t, std::uint8_t> byte_of_cp_;
  std::unordered_map<std::uint64_t, std::pair<int, int>> merge_; ///< (a,b) -> (rank, merged id)
  std::vector<std::pair<std::string, int>> specials_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

} // namespace sqformat::eval
