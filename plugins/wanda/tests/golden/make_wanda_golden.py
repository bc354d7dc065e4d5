#!/usr/bin/env python3
"""make_wanda_golden.py: golden Wanda masks from the PyTorch reference, for
plugins/wanda/tests/test_wanda_golden.cpp.

Runs a transcription of the authors' code (locuslab/wanda: WrappedGPT.add_batch in
lib/layerwrapper.py, the pruning of prune_wanda in lib/prune.py, use_variant off) on small
layers whose weights and inputs come from a 64-bit LCG that the C++ test reproduces exactly.
Values lie on coarse dyadic lattices, so every fp32 sum of squares is exact in any order:
torch's fp32 norms and the plugin's are then the same bits, and the masks must agree exactly,
ties included (lattice weights, silent columns, duplicated columns). Masks are recorded for
each device torch has: CUDA is the reference's device (prune_wanda runs on cuda:0); CPU
torch may break topk ties differently, which the test reports but does not hold against.

    python3 plugins/wanda/tests/golden/make_wanda_golden.py \
        --out plugins/wanda/tests/golden/wanda_golden.json
"""
import argparse
import json

import torch

# name, rows, cols, samples, tokens, (weight seed, k, denominator), (input seed, k, denominator)
CASES = [
    ("lattice", 32, 128, 3, 80, (1, 8, 64.0), (2, 400, 256.0)),
    ("wide", 8, 512, 2, 64, (3, 1000, 4096.0), (4, 300, 256.0)),
]
MODES = [("unstructured_0.5", 0.5, 0, 0), ("unstructured_0.3", 0.3, 0, 0),
         ("2:4", 0.5, 2, 4), ("4:8", 0.5, 4, 8)]
MASK64 = (1 << 64) - 1


def lattice(seed, count, k, denominator):
    """count values (v / denominator for integers v in [-k, k]) from the LCG; the C++ twin is
    lattice_values() in test_wanda_golden.cpp."""
    state = seed
    values = []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
        values.append(((state >> 33) % (2 * k + 1) - k) / denominator)
    return values


def case_tensors(rows, cols, samples, tokens, weight_spec, input_spec):
    weight = torch.tensor(lattice(weight_spec[0], rows * cols, *weight_spec[1:]),
                          dtype=torch.float32).reshape(rows, cols)
    x = torch.tensor(lattice(input_spec[0], samples * tokens * cols, *input_spec[1:]),
                     dtype=torch.float32).reshape(samples, tokens, cols)
    for j in range(cols):
        if j % 9 == 4:
            x[:, :, j] = 0.0  # a silent column
        elif j % 9 == 7:
            x[:, :, j] = x[:, :, j - 1]  # the same norm as its neighbour
    return weight, x


class WrappedGPT:
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


def prune_mask(W, scaler_row, sparsity, prune_n, prune_m):
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
    return W_mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    golden = {"torch": torch.__version__, "devices": devices, "cases": []}
    for name, rows, cols, samples, tokens, weight_spec, input_spec in CASES:
        weight, x = case_tensors(rows, cols, samples, tokens, weight_spec, input_spec)
        entry = {"name": name, "rows": rows, "cols": cols, "samples": samples, "tokens": tokens,
                 "weight": list(weight_spec), "input": list(input_spec), "masks": {}}
        for device in devices:
            wrapped = WrappedGPT(cols, device)
            for s in range(samples):
                wrapped.add_batch(x[s:s + 1].to(device))  # one sample per forward, tmp = 1
            masks = {}
            for mode, sparsity, n, m in MODES:
                pruned = prune_mask(weight.to(device), wrapped.scaler_row, sparsity, n, m)
                masks[mode] = "".join("0" if p else "1" for p in pruned.flatten().tolist())
            entry["masks"][device] = masks
        golden["cases"].append(entry)
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({len(CASES)} cases, devices {devices})")


if __name__ == "__main__":
    main()
