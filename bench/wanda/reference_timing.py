#!/usr/bin/env python3
"""reference_timing.py: the Wanda reference's own code, timed, for bench_wanda.cpp to be held
against on the same machine in the same run.

A transcription of locuslab/wanda: WrappedGPT.add_batch (lib/layerwrapper.py) for the norms,
and the pruning part of prune_wanda (lib/prune.py) for score + mask:

    W_metric = torch.abs(W) * torch.sqrt(scaler_row.reshape((1, -1)))
    W_mask = (torch.zeros_like(W_metric) == 1)
    unstructured: sort_res = torch.sort(W_metric, dim=-1, stable=True)
                  W_mask.scatter_(1, sort_res[1][:, :int(W_metric.shape[1] * 0.5)], True)
    N:M:          for ii in range(W_metric.shape[1]): if ii % m == 0:
                      W_mask.scatter_(1, ii + torch.topk(W_metric[:, ii:ii+m].float(), n,
                                      dim=1, largest=False)[1], True)
    W[W_mask] = 0

fp32 weights (mcomp prunes fp32 weights; the reference's LLaMA runs keep fp16 weights, which
changes the timing little). Each timed region ends with torch.cuda.synchronize(). Prints one
markdown row per shape and mode; with --json also appends JSON lines.

Also prints how torch breaks ties in sort(stable=True) and topk(largest=False) on CPU and
CUDA (--ties), the facts the plugin's tie rule is documented against.

    python3 bench/wanda/reference_timing.py --shapes 4096x4096,4096x11008 --samples 128 \
        --tokens 2048 --repeats 5
"""
import argparse
import json
import time

import torch


class WrappedGPT:
    """lib/layerwrapper.py, for a Linear layer."""

    def __init__(self, columns, device):
        self.scaler_row = torch.zeros((columns), device=device)
        self.nsamples = 0

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        if len(inp.shape) == 3:
            inp = inp.reshape((-1, inp.shape[-1]))
        inp = inp.t()
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = inp.type(torch.float32)
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.nsamples


def score_and_mask(W, scaler_row, sparsity, prune_n, prune_m):
    """The pruning part of prune_wanda for one layer (use_variant off)."""
    W_metric = torch.abs(W) * torch.sqrt(scaler_row.reshape((1, -1)))
    W_mask = torch.zeros_like(W_metric) == 1
    if prune_n != 0:
        for ii in range(W_metric.shape[1]):
            if ii % prune_m == 0:
                tmp = W_metric[:, ii:(ii + prune_m)].float()
                W_mask.scatter_(1, ii + torch.topk(tmp, prune_n, dim=1, largest=False)[1], True)
    else:
        sort_res = torch.sort(W_metric, dim=-1, stable=True)
        indices = sort_res[1][:, :int(W_metric.shape[1] * sparsity)]
        W_mask.scatter_(1, indices, True)
    W[W_mask] = 0
    return W_mask


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_shape(out_features, in_features, args, device):
    gen = torch.Generator(device="cpu").manual_seed(0)
    W0 = (torch.randn(out_features, in_features, generator=gen) * 0.02).to(device)
    sample = torch.randn(1, args.tokens, in_features, generator=gen).to(device)
    rows = []
    for mode, (n, m) in (("unstructured", (0, 0)), ("2:4", (2, 4))):
        norms_s, mask_s = [], []
        for round_index in range(args.repeats + 1):  # round 0 warms up
            wrapped = WrappedGPT(in_features, device)
            sync(device)
            start = time.perf_counter()
            for _ in range(args.samples):
                wrapped.add_batch(sample)
            sync(device)
            norms = time.perf_counter() - start
            W = W0.clone()
            sync(device)
            start = time.perf_counter()
            mask = score_and_mask(W, wrapped.scaler_row, 0.5, n, m)
            sync(device)
            elapsed = time.perf_counter() - start
            if round_index > 0:
                norms_s.append(norms)
                mask_s.append(elapsed)
        pruned = int(mask.sum().item())
        rows.append({
            "device": device.type, "out": out_features, "in": in_features, "mode": mode,
            "samples": args.samples, "tokens": args.tokens,
            "norms_s": sorted(norms_s)[len(norms_s) // 2],
            "score_mask_s": sorted(mask_s)[len(mask_s) // 2],
            "sparsity": pruned / W.numel(),
        })
    return rows


def print_ties():
    """How torch breaks ties, on each device it has."""
    scores = torch.tensor([[2.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0],
                           [3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0]])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("tie behaviour (scores, then what each call picks):")
    print("  scores", scores.tolist())
    for name in devices:
        s = scores.to(name)
        sort_stable = torch.sort(s, dim=-1, stable=True)[1][:, :4].tolist()
        sort_default = torch.sort(s, dim=-1)[1][:, :4].tolist()
        topk_rows = torch.topk(s, 4, dim=1, largest=False)[1].tolist()
        groups = [torch.topk(s[:, i:i + 4], 2, dim=1, largest=False)[1].tolist()
                  for i in range(0, s.shape[1], 4)]
        print(f"  {name}: sort(stable=True) first 4 {sort_stable}; sort() first 4 "
              f"{sort_default}; topk(4, largest=False) {topk_rows}; 2:4 topk per group "
              f"{groups}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="4096x4096,4096x11008")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", default="")
    parser.add_argument("--ties", action="store_true")
    args = parser.parse_args()
    if args.ties:
        print_ties()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}")
    print(f"| device | shape [out, in] | mode | norms: {args.samples} samples x {args.tokens} "
          f"tokens (s) | score+mask (s) |\n|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        out_features, in_features = (int(v) for v in shape.split("x"))
        for row in bench_shape(out_features, in_features, args, device):
            print(f"| torch {row['device']} | {row['out']} x {row['in']} | {row['mode']} | "
                  f"{row['norms_s']:.4f} | {row['score_mask_s']:.5f} |", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
