#!/usr/bin/env python3
"""summarize.py: one markdown table from the JSON lines of mcomp_bench_forward and
hf_forward.py — tokens/s per (device, dtype, batch) for each implementation, and mcomp's
speed relative to transformers where both ran.

    python3 summarize.py mcomp.jsonl hf.jsonl > summary.md
"""
import json
import sys


def load(paths):
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                rows += [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            print(f"<!-- {path} missing -->")
    return rows


def main():
    rows = load(sys.argv[1:])
    if not rows:
        print("no results")
        return
    first = rows[0]
    print(f"Model: Llama-shaped, {first['layers']} layers, hidden {first['hidden']}, "
          f"intermediate {first['intermediate']}, heads {first['heads']}/{first['kv_heads']}, "
          f"vocab {first['vocab']}, seq {first['seq']}; random weights.\n")
    machines = sorted({(r["impl"], r["machine"]) for r in rows})
    for impl, machine in machines:
        extra = ""
        sample = next(r for r in rows if r["impl"] == impl and r["machine"] == machine)
        if impl == "transformers":
            extra = (f" (transformers {sample['transformers']}, torch {sample['torch']}, "
                     f"attention {sample['attn_implementation']})")
        print(f"- {impl}: {machine}{extra}")
    print()
    print("| device | dtype | batch | mcomp tokens/s | mcomp TFLOP/s | mcomp % of GEMM peak "
          "| transformers tokens/s | mcomp / transformers |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    keys = sorted({(r["device"], r["dtype"], r["batch"]) for r in rows},
                  key=lambda k: (k[0], ["F32", "F16", "BF16"].index(k[1]), k[2]))
    for device, dtype, batch in keys:
        def pick(impl):
            return next((r for r in rows if r["impl"] == impl and r["device"] == device
                         and r["dtype"] == dtype and r["batch"] == batch), None)
        ours, theirs = pick("mcomp"), pick("transformers")
        cells = [device, dtype, str(batch)]
        if ours:
            peak = ours.get("fraction_of_peak", 0.0)
            cells += [f"{ours['tokens_per_s']:.0f}", f"{ours['tflops']:.2f}",
                      f"{100 * peak:.1f}%" if peak else "-"]
        else:
            cells += ["-", "-", "-"]
        cells.append(f"{theirs['tokens_per_s']:.0f}" if theirs else "-")
        cells.append(f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x"
                     if ours and theirs else "-")
        print("| " + " | ".join(cells) + " |")
    peaks = sorted({(r["device"], r["dtype"], r.get("peak_tflops", 0), r.get("peak_shape", ""))
                    for r in rows if r["impl"] == "mcomp" and r.get("peak_tflops")})
    if peaks:
        print("\nGEMM peak measured in the same run (the backend's own matmul):")
        for device, dtype, tflops, shape in peaks:
            print(f"- {device} {dtype}: {tflops:.2f} TFLOP/s ({shape})")


if __name__ == "__main__":
    main()
