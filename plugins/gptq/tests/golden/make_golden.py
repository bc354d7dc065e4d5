#!/usr/bin/env python3
"""make_golden.py: golden GPTQ results from a PyTorch transcription of the authors' reference.

The functions below transcribe IST-DASLab/gptq (gptq.py: GPTQ.add_batch, GPTQ.fasterquant with
blocksize, percdamp, groupsize, actorder, static_groups; quant.py: Quantizer.find_params with
perchannel=True and its mse search, quantize) step by step, fp32 and TF32 off as there. They
also record what the reference computes but does not keep: the integer codes, each group's
scale and zero (as GPTQ-for-LLaMa / AutoGPTQ record them) and g_idx in the original column order
(g_idx[perm[i]] = i // groupsize; with static groups perm[i] // groupsize).

The layer and its calibration samples are made from integers by splitmix64 and divided by powers
of two, so plugins/gptq/tests/test_gptq_golden.cpp rebuilds bit-identical inputs without reading
them from here. One column of every sample is zero (a dead column). The cases cover asym/sym,
groups, act-order, static groups, mse and 2/3/4/8 bits.

Run from the repository root (CPU is enough; --device cuda runs the reference on the GPU):

    python3 plugins/gptq/tests/golden/make_golden.py --out plugins/gptq/tests/golden/gptq_golden.json
"""
import argparse
import json
import math

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

ROWS, COLS, TOKENS, SAMPLES, DEAD_COLUMN = 16, 192, 32, 4, 7
MASK = (1 << 64) - 1

# (bits, groupsize, sym, actorder, static_groups, mse, blocksize)
CASES = [
    (4, -1, False, False, False, False, 128),
    (4, 32, False, False, False, False, 128),
    (4, 64, True, False, False, False, 128),
    (4, 32, False, True, False, False, 128),
    (3, 32, False, True, False, False, 128),
    (4, 64, False, True, True, False, 128),
    (4, 48, False, False, True, False, 128),
    (2, 64, False, False, False, False, 64),
    (8, 128, True, True, False, False, 128),
    (3, -1, False, False, False, True, 128),
    (4, 32, True, False, False, True, 32),
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
    """W [ROWS, COLS] = k / 1024; sample s: X[t, j] = (u[t, j] * (1 + j % 5) + u[t, j-1]) / 64."""
    weight = torch.tensor(integers(1, ROWS * COLS, -64, 64), dtype=torch.float32)
    weight = (weight / 1024).reshape(ROWS, COLS)
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
    """quant.py Quantizer, configure(bits, perchannel=True, sym, mse), find_params(weight=True)."""

    def __init__(self, bits, sym, mse, norm=2.4, grid=100, maxshrink=.8):
        self.maxq = torch.tensor(2 ** bits - 1)
        self.sym, self.mse, self.norm, self.grid, self.maxshrink = sym, mse, norm, grid, maxshrink
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
        if self.mse:
            best = torch.full([x.shape[0]], float('inf'), device=dev)
            for i in range(int(self.maxshrink * self.grid)):
                p = 1 - i / self.grid
                xmin1 = p * xmin
                xmax1 = p * xmax
                scale1 = (xmax1 - xmin1) / self.maxq
                zero1 = torch.round(-xmin1 / scale1) if not self.sym else self.zero
                q = quantize(x, scale1.unsqueeze(1), zero1.unsqueeze(1), self.maxq)
                q -= x
                q.abs_()
                q.pow_(self.norm)
                err = torch.sum(q, 1)
                tmp = err < best
                if torch.any(tmp):
                    best[tmp] = err[tmp]
                    self.scale[tmp] = scale1[tmp]
                    self.zero[tmp] = zero1[tmp]
        self.scale = self.scale.reshape(-1, 1)
        self.zero = self.zero.reshape(-1, 1)


# ---- gptq.py ----------------------------------------------------------------------------------

def add_batches(samples, columns, dev):
    """GPTQ.add_batch() once per sample (inp [1, tokens, columns] as llama.py hands it over)."""
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


def fasterquant(W, H, quantizer, blocksize, percdamp, groupsize, actorder, static_groups,
                record=True):
    """GPTQ.fasterquant(); returns Q, codes, per-group scale/zero, g_idx, perm, error.

    record=False leaves out what the reference does not compute (codes, per-group scale and
    zero), for timing the reference as it is (bench/gptq/reference_timing.py)."""
    W = W.clone().float()
    columns = W.shape[1]
    dev = W.device
    quantizer.find_params(W)
    H = H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    ngroups = 1 if groupsize == -1 else (columns + groupsize - 1) // groupsize
    scales = torch.zeros(W.shape[0], ngroups, device=dev)
    zeros = torch.zeros(W.shape[0], ngroups, device=dev)
    if groupsize == -1:
        scales[:, 0:1], zeros[:, 0:1] = quantizer.scale, quantizer.zero
    groups = []
    if static_groups:
        import copy
        for i in range(0, columns, groupsize):
            q = copy.deepcopy(quantizer)
            q.find_params(W[:, i:(i + groupsize)])
            groups.append(q)
            scales[:, i // groupsize:i // groupsize + 1] = q.scale
            zeros[:, i // groupsize:i // groupsize + 1] = q.zero
    perm = torch.arange(columns, device=dev)
    if actorder:
        # torch.argsort does not promise an order for equal diagonals; mcomp keeps index order.
        perm = torch.sort(torch.diag(H), descending=True, stable=True)[1]
        W = W[:, perm]
        H = H[perm][:, perm]
    invperm = torch.argsort(perm)
    Losses = torch.zeros_like(W)
    Q = torch.zeros_like(W)
    C = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns, device=dev)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        C1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if groupsize != -1:
                if not static_groups:
                    if (i1 + i) % groupsize == 0:
                        quantizer.find_params(W[:, (i1 + i):(i1 + i + groupsize)])
                        if record:
                            g = (i1 + i) // groupsize
                            scales[:, g:g + 1] = quantizer.scale
                            zeros[:, g:g + 1] = quantizer.zero
                else:
                    idx = i1 + i
                    if actorder:
                        idx = perm[idx]
                    quantizer = groups[idx // groupsize]
            q = quantize(w.unsqueeze(1), quantizer.scale, quantizer.zero, quantizer.maxq).flatten()
            if record:
                C1[:, i] = quantize_code(w.unsqueeze(1), quantizer.scale, quantizer.zero,
                                         quantizer.maxq).flatten()
            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        C[:, i1:i2] = C1
        Losses[:, i1:i2] = Losses1 / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    if groupsize == -1:
        g_idx = torch.zeros(columns, dtype=torch.int32)
    elif static_groups:
        g_idx = torch.arange(columns) // groupsize
    else:
        g_idx = (torch.arange(columns) // groupsize)[invperm.cpu()]
    return {
        "weight": Q[:, invperm], "codes": C[:, invperm], "scales": scales, "zeros": zeros,
        "g_idx": g_idx, "perm": perm, "error": torch.sum(Losses).item(), "hinv_diag": torch.diag(Hinv),
    }


def floats(t):
    return [float(v) for v in t.detach().cpu().reshape(-1).tolist()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="golden JSON to write")
    parser.add_argument("--device", default="cpu", help="torch device for the reference")
    args = parser.parse_args()
    dev = torch.device(args.device)
    weight, samples = make_layer()
    H = add_batches(samples, COLS, dev)
    cases = []
    for bits, groupsize, sym, actorder, static_groups, mse, blocksize in CASES:
        quantizer = Quantizer(bits, sym, mse)
        r = fasterquant(weight.to(dev), H, quantizer, blocksize, 0.01, groupsize, actorder,
                        static_groups)
        codes = r["codes"].to(torch.int64).cpu().reshape(-1).tolist()
        cases.append({
            "bits": bits, "group_size": groupsize, "sym": sym, "act_order": actorder,
            "static_groups": static_groups, "mse": mse, "block_size": blocksize, "damp": 0.01,
            "codes_hex": "".join(f"{c:02x}" for c in codes),
            "scales": floats(r["scales"]), "zeros": floats(r["zeros"]),
            "g_idx": [int(v) for v in r["g_idx"].tolist()],
            "perm": [int(v) for v in r["perm"].cpu().tolist()],
            "weight_sum": float(r["weight"].double().sum()), "error": r["error"],
            "hinv_diag_first": floats(r["hinv_diag"][:4]),
        })
    golden = {
        "source": "plugins/gptq/tests/golden/make_golden.py",
        "reference": "IST-DASLab/gptq gptq.py add_batch/fasterquant + quant.py Quantizer",
        "torch": torch.__version__, "device": args.device,
        "layer": {"rows": ROWS, "cols": COLS, "tokens": TOKENS, "samples": SAMPLES,
                  "dead_column": DEAD_COLUMN},
        "hessian_diag": floats(torch.diag(H)), "hessian_sum": float(H.double().sum()),
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
