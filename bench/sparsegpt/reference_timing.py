#!/usr/bin/env python3
"""reference_timing.py: the speed of the authors' SparseGPT (IST-DASLab/sparsegpt), as a baseline
for bench_sparsegpt.cpp — the torch transcription in
plugins/sparsegpt/tests/golden/make_golden.py run as the reference runs it (fp32, TF32 off, one
add_batch() per calibration sample, fasterprune() with blocksize 128, percdamp 0.01), timed with
the device synchronized, median of --repeats.

    python3 bench/sparsegpt/reference_timing.py --device cuda --shapes 4096x4096,4096x11008 \\
        --samples 128 --tokens 2048 --repeats 3

Prints a markdown table with the same columns as mcomp_bench_sparsegpt.
"""
import argparse
import importlib.util
import os
import statistics
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "make_golden", os.path.join(here, "../../plugins/sparsegpt/tests/golden/make_golden.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)

# mode name -> (sparsity, prunen, prunem)
MODES = {"50": (0.5, 0, 0), "2:4": (0.0, 2, 4)}


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shapes", default="4096x4096,4096x11008", help="OUTxIN,...")
    parser.add_argument("--modes", default="50,2:4", help=",".join(MODES))
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"| device | shape [out, in] | mode | hessian: {args.samples} samples x "
          f"{args.tokens} tokens (s) | prune, block 128 (s) | hessian GFLOP/s (GEMM) |")
    print("|---|---|---|---|---|---|")
    gen = torch.Generator(device="cpu").manual_seed(0)
    for shape in args.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        weight = (0.02 * torch.randn(rows, cols, generator=gen)).to(dev)
        sample = torch.randn(args.tokens, cols, generator=gen).to(dev)
        hessian_s = []
        H = None
        for r in range(args.repeats + 1):  # the first round warms up
            sync(dev)
            start = time.perf_counter()
            H = reference.add_batches([sample] * args.samples, cols, dev)
            sync(dev)
            if r > 0:
                hessian_s.append(time.perf_counter() - start)
        for mode in args.modes.split(","):
            sparsity, prunen, prunem = MODES[mode]
            prune_s = []
            for r in range(args.repeats + 1):
                sync(dev)
                start = time.perf_counter()
                reference.fasterprune(weight, H, sparsity, prunen, prunem, 128, 0.01, None, -1,
                                      record=False)
                sync(dev)
                if r > 0:
                    prune_s.append(time.perf_counter() - start)
            h = statistics.median(hessian_s)
            flops = 2.0 * args.samples * args.tokens * cols * cols
            print(f"| torch {args.device} | {rows}x{cols} | {mode} | {h:.4f} | "
                  f"{statistics.median(prune_s):.4f} | {flops / h / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
