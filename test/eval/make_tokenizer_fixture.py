#!/usr/bin/env python3
"""Writes the tokenizer fixtures the C++ tests compare against, using Hugging Face `tokenizers`
as the authority. The tokenizer is built from the GGUF's own vocabulary and merges with the
pre-tokenizer pipeline of SmolLM2 (GGUF tokenizer.ggml.pre = "smollm"): isolate every digit,
then byte-level with the GPT-2 regex, no prefix space; control tokens are special added tokens.

Recorded command (from the repository root, after scripts/fetch_model.sh):
    python3 -m pip install tokenizers==0.23.3 gguf==0.19.0
    python3 test/eval/make_tokenizer_fixture.py "$(scripts/fetch_model.sh)" ../shared/data

Outputs (in test/eval/fixtures/):
    wiki_test_ids.bin      'SQTK' | u32 count | u64 byte length of the text | u16 ids[count]
                           (the whole of wikitext-2-raw/wiki.test.raw, no BOS)
    tokenizer_cases.txt    one case a line: hex of the UTF-8 text, a tab, space separated ids
"""
import hashlib
import struct
import sys
from pathlib import Path

from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

CASES = [
    "Hello world",
    " Hello  world   ",
    "It's they're we've I'm you'll he'd 'S 'T",
    "In 2019, 12.5% of 3,000 people paid $1,234.56",
    "  leading spaces\n\n\ttabs\r\nand lines \n",
    "Ünïcödé café naïve Ελληνικά русский 中文 日本語 한국어",
    "emoji 🙂👍🏽 and symbols ©®™ — – … « »",
    "<|endoftext|>special<|im_start|>user\nhi<|im_end|> <repo_name>x",
    "numbers ١٢٣ ½ ² Ⅻ",
    "a\u00a0b\u2009c\u3000d",
    " = = Gameplay = = \n",
    "@-@ @,@ @.@ <unk> 1 @,@ 000",
    "",
    " ",
    "''''",
    "x'sy 'll 've're",
]


def build_tokenizer(gguf_path):
    r = GGUFReader(gguf_path)
    f = r.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in f["tokenizer.ggml.tokens"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0])
             for i in f["tokenizer.ggml.token_type"].data]
    merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode("utf-8")
              for i in f["tokenizer.ggml.merges"].data]
    assert bytes(f["tokenizer.ggml.pre"].parts[-1]).decode() == "smollm"
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab, pairs))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in range(len(tokens)) if types[i] in (3, 4)])
    return tok


def main():
    gguf_path, data_dir = sys.argv[1], Path(sys.argv[2])
    out = Path(__file__).resolve().parent / "fixtures"
    out.mkdir(exist_ok=True)
    tok = build_tokenizer(gguf_path)

    raw = (data_dir / "wikitext-2-raw" / "wiki.test.raw").read_bytes()
    print("wiki.test.raw sha256", hashlib.sha256(raw).hexdigest())
    ids = tok.encode(raw.decode("utf-8"), add_special_tokens=False).ids
    assert max(ids) < 65536
    with open(out / "wiki_test_ids.bin", "wb") as fh:
        fh.write(b"SQTK" + struct.pack("<IQ", len(ids), len(raw)))
        fh.write(struct.pack(f"<{len(ids)}H", *ids))
    print("wiki.test.raw:", len(ids), "tokens")

    with open(out / "tokenizer_cases.txt", "w") as fh:
        for text in CASES:
            case_ids = tok.encode(text, add_special_tokens=False).ids
            fh.write(text.encode("utf-8").hex() + "\t" + " ".join(map(str, case_ids)) + "\n")
    print(len(CASES), "cases")


if __name__ == "__main__":
    main()
