#!/usr/bin/env python3
"""make_golden.py: golden SparseGPT results from a PyTorch transcription of the authors' reference.

The functions below transcribe IST-DASLab/sparsegpt (sparsegpt.py: SparseGPT.add_batch and
SparseGPT.fasterprune with sparsity, prunen, prunem, blocksize, percdamp; quant.py: Quantizer with
perchannel=True, mse off, find_params and quantize) step by step, fp32 and TF32 off as there. They
also record what the reference computes but does not keep: the mask, the integer codes of the
joint quantization, each row's scale and zero, and for every weight the distance of its score from
the boundary that decided it (the block's threshold, or the n-th / (n+1)-th lowest score of its
N:M group), relative to that boundary, so the C++ test can tell a rounding tie from a bug.

One addition the reference lacks, marked below: with group_size > 0 the quantizer's grid is
refit at each group start on W[:, c:c+g] (W with the lazy updates of past blocks, not the working
copy W1), as IST-DASLab/gptq's fasterquant does; the reference's joint quantization has one grid
per row, fit before the loop (group_size = -1).

The layer and its calibration samples are made from integers by splitmix64 and divided by powers
of two, so plugins/sparsegpt/tests/test_sparsegpt_golden.cpp rebuilds bit-identical inputs
without reading them from here. One column of every sample is zero (a dead column).

Run from the repository root (CPU is enough; --device cuda runs the reference on the GPU):

    python3 plugins/sparsegpt/tests/golden/make_golden.py \\
        --out plugins/sparsegpt/tests/golden/sparsegpt_golden.json
"""
import argparse
import json
import math
import struct

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

ROWS, COLS, TOKENS, SAMPLES, DEAD_COLUMN = 12, 160, 32, 4, 7
MASK = (1 << 64) - 1
NEAR_TIE = 1e-3  # margins below this are recorded

# (sparsity, prunen, prunem, blocksize, wbits, groupsize, sym)
CASES = [
    (0.5, 0, 0, 128, 16, -1, False),
    (0.5, 0, 0, 64, 16, -1, False),
    (0.7, 0, 0, 32, 16, -1, False),
    (0.0, 2, 4, 128, 16, -1, False),
    (0.0, 4, 8, 32, 16, -1, False),
    (0.5, 0, 0, 128, 4, -1, False),
    (0.0, 2, 4, 128, 4, -1, False),
    (0.0, 2, 4, 128, 3, -1, True),
    (0.5, 0, 0, 128, 4, 32, False),
    (0.6, 0, 0, 48, 8, -1, True),
]


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def integers(stream, count, lo, hi):
    """count integers in [lo, hi]: splitmix64(stream * 2^32 + i) mod (hi - lo + 1) + lo."""
    span = hi - lo + 1
    return [lo + splitmix64(((stream << 32) + i) & MASK) % span for i in range(count)]


def make_layer():
    """W [ROWS, COLS] = k / 65536, k in [-4096, 4096]; sample s:
    X[t, j] = (u[t, j] * (1 + j % 5) + u[t, j-1]) / 64, u in [-32, 32], column DEAD_COLUMN 0."""
    weight = torch.tensor(integers(1, ROWS * COLS, -4096, 4096), dtype=torch.float32)
    weight = (weight / 65536).reshape(ROWS, COLS)
    samples = []
    for s in range(SAMPLES):
        u = integers(100 + s, TOKENS * COLS, -32, 32)
        x = []
        for t in range(TOKENS):
            for j in range(COLS):
                prev = u[t * COLS + j - 1] if j > 0 else 0
                x.append(0 if j == DEAD_COLUMN else u[t * COLS + j] * (1 + j % 5) + prev)
        samples.append((torch.tensor(x, dtype=torch.float32) / 64).reshape(TOKENS, COLS))
    return weight, samples


# ---- quant.py ---------------------------------------------------------------------------------

def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def quantize_code(x, scale, zero, maxq):
    return torch.clamp(torch.round(x / scale) + zero, 0, maxq)


class Quantizer:
    """quant.py Quantizer.configure(bits, perchannel=True, sym, mse=False); find_params(weight)."""

    def __init__(self, bits, sym):
        self.maxq = torch.tensor(2 ** bits - 1)
        self.sym = sym
        self.scale = self.zero = None

    def find_params(self, x):
        dev = x.device
        self.maxq = self.maxq.to(dev)
        x = x.flatten(1)
        tmp = torch.zeros(x.shape[0], device=dev)
        xmin = torch.minimum(x.min(1)[0], tmp)
        xmax = torch.maximum(x.max(1)[0], tmp)
        if self.sym:
            xmax = torch.maximum(torch.abs(xmin), xmax)
            tmp = xmin < 0
            if torch.any(tmp):
                xmin[tmp] = -xmax[tmp]
        tmp = (xmin == 0) & (xmax == 0)
        xmin[tmp] = -1
        xmax[tmp] = +1
        self.scale = (xmax - xmin) / self.maxq
        if self.sym:
            self.zero = torch.full_like(self.scale, (self.maxq + 1) / 2)
        else:
            self.zero = torch.round(-xmin / self.scale)
        self.scale = self.scale.reshape(-1, 1)
        self.zero = self.zero.reshape(-1, 1)


# ---- sparsegpt.py -----------------------------------------------------------------------------

def add_batches(samples, columns, dev):
    """SparseGPT.add_batch() once per sample (inp [1, tokens, columns] as llama.py hands it)."""
    H = torch.zeros((columns, columns), device=dev)
    nsamples = 0
    for x in samples:
        inp = x.to(dev).unsqueeze(0)
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t()
        H *= nsamples / (nsamples + tmp)
        nsamples += tmp
        inp = math.sqrt(2 / nsamples) * inp.float()
        H += inp.matmul(inp.t())
    return H


def relative_gap(a, b):
    scale = torch.maximum(a.abs(), b.abs())
    return torch.where(scale > 0, (a - b).abs() / scale, torch.zeros_like(scale))


def fasterprune(W, H, sparsity, prunen, prunem, blocksize, percdamp, quantizer, groupsize,
                record=True):
    """SparseGPT.fasterprune(); returns the weight, mask, codes, scales, zeros, margins, error.

    record=False leaves out what the reference does not compute (codes, margins, per-group
    scales), for timing the reference as it is (bench/sparsegpt/reference_timing.py)."""
    W = W.clone().float()
    rows, columns = W.shape
    dev = W.device
    if quantizer is not None:
        quantizer.find_params(W)
    H = H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    ngroups = 1 if groupsize == -1 else (columns + groupsize - 1) // groupsize
    scales = torch.zeros(rows, ngroups, device=dev)
    zeros = torch.zeros(rows, ngroups, device=dev)
    if quantizer is not None and groupsize == -1:
        scales[:, 0:1], zeros[:, 0:1] = quantizer.scale, quantizer.zero
    Losses = torch.zeros(rows, device=dev)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns, device=dev)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    mask = torch.zeros(rows, columns, dtype=torch.bool, device=dev)
    codes = torch.zeros(rows, columns, device=dev)
    margin = torch.full((rows, columns), float("inf"), device=dev)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
            if record:
                margin[:, i1:i2] = relative_gap(tmp, thresh)
        else:
            mask1 = torch.zeros_like(W1) == 1
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
                if record:
                    ordered = torch.sort(tmp, dim=1)[0]
                    gap = relative_gap(ordered[:, prunen - 1], ordered[:, prunen])
                    margin[:, i1 + i:i1 + i + prunem] = gap.unsqueeze(1)
            if quantizer is not None and groupsize != -1 and (i1 + i) % groupsize == 0:
                # mcomp's addition (see the module docstring): gptq's group refit.
                quantizer.find_params(W[:, (i1 + i):(i1 + i + groupsize)])
                g = (i1 + i) // groupsize
                scales[:, g:g + 1], zeros[:, g:g + 1] = quantizer.scale, quantizer.zero
            q = w.clone()
            q[mask1[:, i]] = 0
            if quantizer is not None:
                if record:
                    codes[:, i1 + i] = quantize_code(q.unsqueeze(1), quantizer.scale,
                                                     quantizer.zero, quantizer.maxq).flatten()
                q = quantize(q.unsqueeze(1), quantizer.scale, quantizer.zero,
                             quantizer.maxq).flatten()
            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        mask[:, i1:i2] = mask1
        Losses += torch.sum(Losses1, 1) / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return {"weight": W, "mask": mask, "codes": codes, "scales": scales, "zeros": zeros,
            "margin": margin, "error": torch.sum(Losses).item(), "hinv_diag": torch.diag(Hinv)}


def floats(t):
    return [float(v) for v in t.detach().cpu().reshape(-1).tolist()]


def float_hex(t):
    """fp32 values as big-endian hex words, 8 characters each (exact and compact)."""
    return "".join(struct.pack(">f", v).hex() for v in t.detach().cpu().reshape(-1).tolist())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="golden JSON to write")
    parser.add_argument("--device", default="cpu", help="torch device for the reference")
    args = parser.parse_args()
    dev = torch.device(args.device)
    weight, samples = make_layer()
    H = add_batches(samples, COLS, dev)
    cases = []
    for sparsity, prunen, prunem, blocksize, wbits, groupsize, sym in CASES:
        quantizer = Quantizer(wbits, sym) if wbits < 16 else None
        r = fasterprune(weight.to(dev), H, sparsity, prunen, prunem, blocksize, 0.01, quantizer,
                        groupsize)
        near = (r["margin"] < NEAR_TIE).nonzero().cpu().tolist()
        case = {
            "sparsity": sparsity, "n": prunen, "m": prunem, "block_size": blocksize,
            "bits": wbits, "group_size": groupsize, "sym": sym, "damp": 0.01,
            "weight_hex": float_hex(r["weight"]),
            "mask": "".join("0" if p else "1" for p in r["mask"].cpu().reshape(-1).tolist()),
            "near_ties": [[int(i), int(j), float(r["margin"][i, j])] for i, j in near],
            "error": r["error"], "hinv_diag_first": floats(r["hinv_diag"][:4]),
        }
        if quantizer is not None:
            codes = r["codes"].to(torch.int64).cpu().reshape(-1).tolist()
            case["codes_hex"] = "".join(f"{c:02x}" for c in codes)
            case["scales"] = floats(r["scales"])
            case["zeros"] = floats(r["zeros"])
        cases.append(case)
    golden = {
        "source": "plugins/sparsegpt/tests/golden/make_golden.py",
        "reference": "IST-DASLab/sparsegpt sparsegpt.py add_batch/fasterprune + quant.py",
        "torch": torch.__version__, "device": args.device,
        "layer": {"rows": ROWS, "cols": COLS, "tokens": TOKENS, "samples": SAMPLES,
                  "dead_column": DEAD_COLUMN},
        "near_tie_margin": NEAR_TIE,
        "hessian_diag": floats(torch.diag(H)), "hessian_sum": float(H.double().sum()),
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
