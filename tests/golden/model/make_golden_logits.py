#!/usr/bin/env python3
"""make_golden_logits.py: golden logits of TinyStories-656K from the Hugging Face reference.

Loads the model with transformers in fp32 on the CPU (eager attention), runs three fixed
token sequences (lengths 1, 17 and 64, each starting with BOS) and writes, per sequence, the
full logits of the last position, a fixed sample of logits at other positions, and the sum
and the sum of squares of all its logits. tests/unit/runtime/test_golden_logits.cpp holds
mcomp's CPU forward against this file.

Needs python3 with torch and transformers (the GPU machine has both; no GPU is used).
From the repository root:

    python3 tests/golden/model/make_golden_logits.py \
        --model ../shared/models/TinyStories-656K \
        --out tests/golden/model/tinystories656k_logits.json
"""
import argparse
import json
import pathlib

import torch
import transformers
from transformers import AutoModelForCausalLM

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parents[2] / ".." / "shared" / "models" / "TinyStories-656K"
DEFAULT_OUT = HERE / "tinystories656k_logits.json"


def sequences(vocab_size, bos_id):
    """Fixed token ids: BOS, then arithmetic progressions modulo the vocabulary."""
    return [
        [bos_id],
        [bos_id] + [(37 * i + 11) % vocab_size for i in range(16)],
        [bos_id] + [(101 * i + 7) % vocab_size for i in range(63)],
    ]


def sample_points(length, vocab_size):
    """(position, vocab index) pairs: 8 positions spread over the sequence, 8 indices each."""
    step = max(1, length // 8)
    return [(p, (13 * p + 17 * k + 5) % vocab_size)
            for p in range(0, length, step) for k in range(8)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file to write")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        args.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    config = model.config
    bos_id = config.bos_token_id if config.bos_token_id is not None else 1

    records = []
    for tokens in sequences(config.vocab_size, bos_id):
        with torch.no_grad():
            logits = model(torch.tensor([tokens], dtype=torch.long)).logits[0].float()
        logits64 = logits.double()
        records.append({
            "tokens": tokens,
            "last_logits": [float(x) for x in logits[-1]],
            "samples": [[p, i, float(logits[p, i])]
                        for p, i in sample_points(len(tokens), config.vocab_size)],
            "sum": float(logits64.sum()),
            "sum_squares": float((logits64 * logits64).sum()),
        })

    out = {
        "what": "TinyStories-656K logits, transformers fp32 CPU eager attention",
        "made_by": "tests/golden/model/make_golden_logits.py",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "vocab_size": config.vocab_size,
        "sequences": records,
    }
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}: {len(records)} sequences")


if __name__ == "__main__":
    main()
