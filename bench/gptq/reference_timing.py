#!/usr/bin/env python3
"""reference_timing.py: the speed of the authors' GPTQ (IST-DASLab/gptq), as a baseline for
bench_gptq.cpp — the torch transcription in plugins/gptq/tests/golden/make_golden.py run as the
reference runs it (fp32, TF32 off, one add_batch() per calibration sample, fasterquant() with
blocksize 128, percdamp 0.01), timed with the device synchronized, median of --repeats.

    python3 bench/gptq/reference_timing.py --device cuda --shapes 4096x4096,4096x11008 \
        --samples 128 --tokens 2048 --repeats 6

Prints a markdown table with the same columns as mcomp_bench_gptq.
"""
import argparse
import importlib.util
import os
import statistics
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "make_golden", os.path.join(here, "../../plugins/gptq/tests/golden/make_golden.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shapes", default="4096x4096,4096x11008", help="OUTxIN,...")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--group-size", type=int, default=128)
    args = parser.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"| device | shape [out, in] | act-order | hessian: {args.samples} samples x "
          f"{args.tokens} tokens (s) | quantize w4 g{args.group_size} (s) | hessian GFLOP/s (GEMM) |")
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
        for actorder in (False, True):
            quantize_s = []
            for r in range(args.repeats + 1):
                quantizer = reference.Quantizer(4, False, False)
                sync(dev)
                start = time.perf_counter()
                reference.fasterquant(weight, H, quantizer, 128, 0.01, args.group_size, actorder,
                                      False, record=False)
                sync(dev)
                if r > 0:
                    quantize_s.append(time.perf_counter() - start)
            h = statistics.median(hessian_s)
            flops = 2.0 * args.samples * args.tokens * cols * cols
            print(f"| torch {args.device} | {rows}x{cols} | {'yes' if actorder else 'no'} | "
                  f"{h:.4f} | {statistics.median(quantize_s):.4f} | {flops / h / 1e9:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
