#!/usr/bin/env python3
"""hf_forward.py: transformers' forward throughput (tokens/s) of the same Llama-shaped model
that mcomp_bench_forward times, with random initialisation from a LlamaConfig (no network,
no checkpoint), on the GPU.

One timed forward is model(input_ids, use_cache=False) under torch.inference_mode(): embed,
every decoder layer, final norm and lm_head to logits [batch, seq, vocab], bracketed by
torch.cuda.synchronize(). The attention implementation is transformers' default (sdpa); the
median of --iters forwards after --warmup untimed ones is reported, one JSON line per
(dtype, batch) with --json, and a table on stdout.

    python3 hf_forward.py --dtypes f16,bf16 --batches 1,2,4,8 --json hf.jsonl
"""
import argparse
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
NAMES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtypes", default="f16,bf16")
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--intermediate", type=int, default=5632)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--json", default="")
    return parser.parse_args()


def forward_flops(args, batch):
    """Multiply-adds x2 of one forward, counted as mcomp_bench_forward counts them."""
    head_dim = args.hidden // args.heads
    q_size, kv_size = args.heads * head_dim, args.kv_heads * head_dim
    tokens = batch * args.seq
    per_block = (args.hidden * q_size + 2 * args.hidden * kv_size + q_size * args.hidden
                 + 3 * args.hidden * args.intermediate)
    linears = 2.0 * tokens * (args.layers * per_block + args.hidden * args.vocab)
    causal_pairs = args.seq * (args.seq + 1) / 2.0
    attention = args.layers * batch * args.heads * 4.0 * head_dim * causal_pairs
    return linears + attention


def build_model(args, dtype):
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                         intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                         num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                         max_position_embeddings=max(2048, args.seq), rms_norm_eps=1e-5,
                         tie_word_embeddings=False, use_cache=False)  # rope theta: 10000
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in the target dtype, directly on the GPU
    try:
        with torch.device("cuda"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    assert all(p.dtype == dtype for p in model.parameters())
    return model.eval()


def time_forward(model, input_ids):
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        logits = model(input_ids=input_ids, use_cache=False).logits
    torch.cuda.synchronize()
    assert logits.shape[-1] == model.config.vocab_size
    return time.perf_counter() - start


def main():
    args = parse_args()
    if not torch.cuda.is_available():
        sys.exit("hf_forward.py: no CUDA device visible to torch")
    machine = torch.cuda.get_device_name(0)
    out = open(args.json, "a") if args.json else None
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, {machine}")
    print(f"{'impl':<12} {'dtype':<5} {'batch':>5} {'seq':>5} {'median_ms':>10} "
          f"{'tokens/s':>12} {'TFLOP/s':>10}")
    generator = torch.Generator(device="cuda").manual_seed(7)
    for name in args.dtypes.split(","):
        model = build_model(args, DTYPES[name])
        attn = getattr(model.config, "_attn_implementation", "unknown")
        for batch in [int(b) for b in args.batches.split(",")]:
            input_ids = torch.randint(0, args.vocab, (batch, args.seq), device="cuda",
                                      generator=generator)
            for _ in range(args.warmup):
                time_forward(model, input_ids)
            times = [time_forward(model, input_ids) for _ in range(args.iters)]
            seconds = statistics.median(times)
            tokens_per_s = batch * args.seq / seconds
            tflops = forward_flops(args, batch) / seconds / 1e12
            print(f"{'transformers':<12} {NAMES[name]:<5} {batch:>5} {args.seq:>5} "
                  f"{seconds * 1e3:>10.2f} {tokens_per_s:>12.1f} {tflops:>10.3f}", flush=True)
            if out:
                out.write(json.dumps({
                    "impl": "transformers", "device": "cuda", "dtype": NAMES[name],
                    "machine": machine, "attn_implementation": attn,
                    "transformers": transformers.__version__, "torch": torch.__version__,
                    "batch": batch, "seq": args.seq, "layers": args.layers,
                    "hidden": args.hidden, "intermediate": args.intermediate,
                    "heads": args.heads, "kv_heads": args.kv_heads, "vocab": args.vocab,
                    "times_s": times, "median_s": seconds, "tokens_per_s": tokens_per_s,
                    "flops_per_forward": forward_flops(args, batch), "tflops": tflops}) + "\n")
                out.flush()
        del model
        torch.cuda.empty_cache()
    if out:
        out.close()


if __name__ == "__main__":
    main()
