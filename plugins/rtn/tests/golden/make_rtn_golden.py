#!/usr/bin/env python3
"""make_rtn_golden.py: golden RTN results on TinyStories-656K from the PyTorch reference.

Quantizes every decoder linear layer of the shared model with the RTN baseline of GPTQ
(IST-DASLab/gptq: quant.py Quantizer.find_params(perchannel=True, mse=False) and quantize(),
one find_params per group of `groupsize` columns as gptq.py fasterquant slices W[:, i:i+G])
and records, per layer and setting, the SHA-256 of the codes (uint8), scales, zeros and
dequantized weights (float32 little-endian, row-major [out, groups] / [out, in]).
plugins/rtn/tests/test_rtn_golden.cpp checks the plugin against these digests bit for bit.

Needs python3 with torch (CPU is enough; --device cuda checks the GPU reference gives the
same digests). Run from the repository root:

    python3 plugins/rtn/tests/golden/make_rtn_golden.py \
        --model ../shared/models/TinyStories-656K \
        --out plugins/rtn/tests/golden/rtn_ts656k.json
"""
import argparse
import hashlib
import json
import struct

import torch

SETTINGS = [  # (bits, groupsize, sym): the perplexity reference is w4 g64 asym
    (4, 64, False),
    (4, 128, True),
    (3, -1, False),
    (8, 32, True),
    (2, 64, False),
]
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def read_safetensors(path):
    """The float32 tensors of a safetensors file, by name (no safetensors package needed)."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = info["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = tensor.reshape(info["shape"])
    return tensors


def find_params(x, maxq, sym):
    """quant.py Quantizer.find_params(x, weight=True) with perchannel=True, mse=False."""
    tmp = torch.zeros(x.shape[0], device=x.device)
    xmin = torch.minimum(x.min(1)[0], tmp)
    xmax = torch.maximum(x.max(1)[0], tmp)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        tmp = xmin < 0
        if torch.any(tmp):
            xmin[tmp] = -xmax[tmp]
    tmp = (xmin == 0) & (xmax == 0)
    xmin[tmp] = -1
    xmax[tmp] = +1
    scale = (xmax - xmin) / maxq
    if sym:
        zero = torch.full_like(scale, (maxq + 1) / 2)
    else:
        zero = torch.round(-xmin / scale)
    return scale.reshape(-1, 1), zero.reshape(-1, 1)


def rtn(weight, bits, groupsize, sym):
    """Codes, scales [out, groups], zeros, dequantized weight, as the reference computes them."""
    maxq = torch.tensor(2**bits - 1, device=weight.device)
    cols = weight.shape[1]
    width = groupsize if groupsize > 0 else cols
    codes, scales, zeros, dequant = [], [], [], []
    for begin in range(0, cols, width):
        group = weight[:, begin:begin + width]
        scale, zero = find_params(group, maxq, sym)
        q = torch.clamp(torch.round(group / scale) + zero, 0, maxq)  # quant.py quantize()
        codes.append(q.to(torch.uint8))
        dequant.append(scale * (q - zero))
        scales.append(scale)
        zeros.append(zero)
    return (torch.cat(codes, 1), torch.cat(scales, 1), torch.cat(zeros, 1),
            torch.cat(dequant, 1))


def digest(tensor):
    """SHA-256 of the tensor's bytes, row-major, little-endian (no numpy needed)."""
    raw = tensor.contiguous().cpu().view(torch.uint8).reshape(-1)
    return hashlib.sha256(bytes(raw.tolist())).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder with model.safetensors")
    parser.add_argument("--out", required=True, help="golden JSON to write")
    parser.add_argument("--device", default="cpu", help="torch device for the reference")
    args = parser.parse_args()

    tensors = read_safetensors(args.model + "/model.safetensors")
    layers = sorted(n for n in tensors if n.endswith(".weight") and n.split(".")[-2] in LINEARS)
    cases = []
    for bits, groupsize, sym in SETTINGS:
        for name in layers:
            weight = tensors[name].to(args.device)
            codes, scales, zeros, dequant = rtn(weight, bits, groupsize, sym)
            cases.append({
                "tensor": name, "bits": bits, "group_size": groupsize, "sym": sym,
                "shape": list(weight.shape), "num_groups": scales.shape[1],
                "codes_sha256": digest(codes), "scales_sha256": digest(scales),
                "zeros_sha256": digest(zeros), "weight_sha256": digest(dequant),
                "first_scales": [float(s) for s in scales[0, :4].cpu()],
            })
    golden = {
        "source": "plugins/rtn/tests/golden/make_rtn_golden.py",
        "model": "TinyStories-656K",
        "reference": "IST-DASLab/gptq quant.py Quantizer (perchannel, mse=False), per group",
        "torch": torch.__version__, "device": args.device, "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
