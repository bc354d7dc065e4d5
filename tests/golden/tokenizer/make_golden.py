#!/usr/bin/env python3
"""make_golden.py: golden token ids from the Hugging Face `tokenizers` library.

Writes, next to this script (or to --out-dir):
  tinystories656k.json  ids of GOLDEN_TEXTS under the TinyStories-656K tokenizer.json,
                        with and without special tokens (plus whole-file counts when
                        --data-dir is given);
  bytelevel_tiny.json   two small GPT-2 style byte-level tokenizers built below (the same
                        ones tests/unit/tokenizer/tiny_byte_level.hpp builds), each with
                        the ids the library gives for BYTE_LEVEL_TEXTS;
  metaspace_tiny.json   three small sentencepiece-style tokenizers (byte fallback,
                        Metaspace, <unk>; tests/unit/tokenizer/tiny_metaspace.hpp) with the
                        ids for METASPACE_TEXTS.
The C++ test tests/unit/tokenizer/test_golden.cpp compares mcomp's ids with these.

Usage (needs `pip install tokenizers`; no network is used):
  python3 tests/golden/tokenizer/make_golden.py --model-dir ../shared/models/TinyStories-656K \
      --data-dir ../shared/data
  python3 tests/golden/tokenizer/make_golden.py --emit-inputs DIR   # inputs only, for
      make_golden_node.js (same library through its node bindings)
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Texts for the TinyStories-656K tokenizer: in-vocabulary prose, characters outside the
# vocabulary (one <unk> per run, fuse_unk), whitespace runs, and the special tokens.
GOLDEN_TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "She liked to play in the park with her dog, Max. They had a lot of fun!",
    '"Look!" said Tom. "The sun is big and red."',
    "café",
    "naïve",
    "Ünïcödé façade",
    "北京欢迎你",
    "日本語のテキスト",
    "emoji 😀🎉👍🏽",
    "12345 3.14",
    "a   b\t\tc\n\n d",
    "  leading spaces",
    "trailing spaces   ",
    " ",
    "",
    "\n",
    "\t",
    "line1\r\nline2\r\n",
    "text with <|start_story|> inside",
    "<|start_story|>Once upon a time",
    "The end.<|end_story|>",
    "<|end_story|><|start_story|>",
    "Hello<|start_story|>world",
    "<|start_story|>",
    "<unk> literal",
    "Tom's dog's ball",
    "don't, can't, I'll, we've",
    "ALL CAPS SHOUTING!!!",
    "mixed123numbers456",
    "punctuation!?.,;:-()[]{}",
    "~`@#$%^&*_+=|\\",
    "URL https://example.com/a?b=c",
    "zero\u200bwidth",
    "nbsp\u00a0here",
    "Ελληνικά русский עברית عربى हिन्दी 한국어",
    "\ufb01 ligature",
    "e\u0301 combining",
    "x" * 300,
    "The little bird flew high in the sky. " * 8,
]

# Texts for the tiny byte-level tokenizers: merges, whitespace runs, the special tokens.
BYTE_LEVEL_TEXTS = [
    "hello world",
    "hello  world",
    "the hello",
    " the thing",
    "hello\n\nworld",
    "café 12345",
    "it's Tom's",
    "IT'S",
    "emoji 😀",
    "   ",
    "",
    "<|begin_of_text|>hello",
    "hello<|end_of_text|>",
    "a <mask> b",
    "tab\there",
    "say hello",
    "it's",
]


def byte_level_chars():
    """GPT-2 bytes_to_unicode: byte -> printable char."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


# Merges of the tiny tokenizers, in rank order ("Ġ" is the space byte, "Ċ" the newline).
TINY_MERGES = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("he", "ll"), ("hell", "o"),
    ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("i", "n"),
    ("in", "g"), ("1", "2"), ("Ġ", "Ġ"), ("Ċ", "Ċ"), ("Ã", "©"), ("c", "a"), ("ca", "f"),
    ("caf", "Ã©"), ("'", "s"),
]

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tiny_tokenizer(variant):
    """The tiny byte-level tokenizer.json of test_byte_level.cpp, as a dict.

    Ids 0..255 are the bytes (id == byte value), 256.. the merges in order, then
    "Ġhello", then the added tokens. variant "llama3": Split(Llama-3 regex) + ByteLevel(use_regex=false),
    [a, b] merges, ignore_merges, BOS template. variant "gpt2": ByteLevel(use_regex=true),
    "a b" merges, no BOS.
    """
    chars = byte_level_chars()
    vocab = {chars[b]: b for b in range(256)}
    for a, b in TINY_MERGES:
        vocab[a + b] = len(vocab)
    # A token no merge makes: only ignore_merges (variant llama3) can emit it.
    vocab["Ġhello"] = len(vocab)
    n = len(vocab)
    added = [
        {"id": n, "content": "<|begin_of_text|>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True},
        {"id": n + 1, "content": "<|end_of_text|>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True},
        {"id": n + 2, "content": "<mask>", "single_word": False, "lstrip": True,
         "rstrip": False, "normalized": False, "special": True},
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": variant == "gpt2"}
    if variant == "llama3":
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
             "invert": False},
            byte_level]}
        post = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
             "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {
                 "id": "<|begin_of_text|>", "ids": [n], "tokens": ["<|begin_of_text|>"]}}}]}
        merges = [[a, b] for a, b in TINY_MERGES]
    else:
        pre = byte_level
        post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                "use_regex": True}
        merges = [a + " " + b for a, b in TINY_MERGES]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": pre, "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": variant == "llama3", "vocab": vocab, "merges": merges},
    }


# Texts for the tiny sentencepiece-style tokenizers: prefix spaces, byte fallback,
# unknown chars, specials at the start and inside.
METASPACE_TEXTS = [
    "hello world",
    " hello",
    "hello  world",
    "  hello",
    "hello ",
    "héllo wörld",
    "日本",
    "<s>hello</s>",
    "hello<s>world",
    "hello <s> world",
    "",
    " ",
    "\n",
    "a\tb\nc",
    "HELLO",
    "hello.world,",
    "xyz 😀😀",
]

META_CHARS = list("▁abcdefghijklmnopqrstuvwxyz.,")
META_MERGES = [
    ("▁", "h"), ("e", "l"), ("l", "o"), ("▁h", "el"), ("▁hel", "lo"), ("▁", "w"), ("o", "r"),
    ("▁w", "or"), ("l", "d"), ("▁wor", "ld"), ("▁", "▁"), ("▁", "a"),
]


def tiny_metaspace(variant):
    """The tiny sentencepiece-style tokenizer.json of test_metaspace.cpp, as a dict.

    Ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, then META_CHARS, then the merges.
    variant "llama2": Prepend + Replace normalizer, no pre-tokenizer, byte fallback, fused
    <unk> ("a b" merges). "metaspace_first": Metaspace(prepend_scheme first, split false)
    pre-tokenizer, byte fallback ([a, b] merges). "metaspace_always": Metaspace(always,
    split true), no byte fallback and unfused <unk>.
    """
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for c in META_CHARS:
        vocab[c] = len(vocab)
    for a, b in META_MERGES:
        vocab[a + b] = len(vocab)
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}
             for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    normalizer = None
    pre = None
    if variant == "llama2":
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        decoder = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
        merges = [a + " " + b for a, b in META_MERGES]
    else:
        first = variant == "metaspace_first"
        meta = {"type": "Metaspace", "replacement": "▁",
                "prepend_scheme": "first" if first else "always", "split": not first}
        pre = meta
        decoder = {"type": "Sequence", "decoders": [meta, {"type": "ByteFallback"},
                                                    {"type": "Fuse"}]}
        merges = [[a, b] for a, b in META_MERGES]
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    fallback = variant != "metaspace_always"
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post,
        "decoder": decoder,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": fallback, "byte_fallback": fallback, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


# Golden file -> (texts, {variant: tokenizer.json dict}).
def tiny_sets():
    return {
        "bytelevel_tiny.json": (BYTE_LEVEL_TEXTS, {v: tiny_tokenizer(v) for v in ["llama3", "gpt2"]}),
        "metaspace_tiny.json": (METASPACE_TEXTS, {v: tiny_metaspace(v) for v in
                                                  ["llama2", "metaspace_first",
                                                   "metaspace_always"]}),
    }


COUNT_FILES = ["tinystories/ts_calib.txt", "tinystories/ts_dev.txt"]


def encode_cases(tok, texts):
    cases = []
    for text in texts:
        for add in (True, False):
            ids = tok.encode(text, add_special_tokens=add).ids
            cases.append({"text": text, "add_special_tokens": add, "ids": ids})
    return cases


def compact(obj, indent=""):
    """JSON with one line per case, so that a diff shows which texts changed."""
    if isinstance(obj, dict) and any(isinstance(v, list) and v and isinstance(v[0], dict)
                                     for v in obj.values()):
        inner = indent + " "
        items = ['%s%s: %s' % (inner, json.dumps(k), compact(v, inner)) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + compact(v, inner) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(compact(obj) + "\n")
    print("wrote", path)


def emit_inputs(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "inputs.json"), "w", encoding="utf-8") as f:
        json.dump({
            "golden_texts": GOLDEN_TEXTS, "count_files": COUNT_FILES,
            "tiny": {name: {"texts": texts, "variants": variants}
                     for name, (texts, variants) in tiny_sets().items()}},
            f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", help="folder of TinyStories-656K (has tokenizer.json)")
    ap.add_argument("--data-dir", help="../shared/data, for whole-file token counts")
    ap.add_argument("--out-dir", default=HERE)
    ap.add_argument("--emit-inputs", metavar="DIR",
                    help="only write the texts and tiny tokenizers to DIR/inputs.json")
    args = ap.parse_args()
    if args.emit_inputs:
        emit_inputs(args.emit_inputs)
        return 0
    try:
        import tokenizers
        from tokenizers import Tokenizer
    except ImportError:
        print("make_golden.py: needs the `tokenizers` package (pip install tokenizers)",
              file=sys.stderr)
        return 2
    generator = "tokenizers %s (python)" % tokenizers.__version__

    if args.model_dir:
        tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
        out = {"generator": generator, "model": "TinyStories-656K",
               "cases": encode_cases(tok, GOLDEN_TEXTS), "counts": []}
        if args.data_dir:
            for rel in COUNT_FILES:
                # newline="": the C++ side reads the bytes as they are.
                with open(os.path.join(args.data_dir, rel), encoding="utf-8", newline="") as f:
                    text = f.read()
                n = len(tok.encode(text, add_special_tokens=True).ids)
                out["counts"].append({"file": rel, "add_special_tokens": True, "num_tokens": n})
        write_json(os.path.join(args.out_dir, "tinystories656k.json"), out)

    for name, (texts, specs) in tiny_sets().items():
        variants = []
        for v, spec in specs.items():
            tok = Tokenizer.from_str(json.dumps(spec))
            variants.append({"name": v, "tokenizer": spec, "cases": encode_cases(tok, texts)})
        write_json(os.path.join(args.out_dir, name), {"generator": generator, "variants": variants})
    return 0


if __name__ == "__main__":
    sys.exit(main())
