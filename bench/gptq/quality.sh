#!/usr/bin/env bash
# quality.sh: the GPTQ quality table on the shared model, next to the authors' reference.
# Each row runs one pipeline (calibration 128 x 512 tokens of ts_calib.txt, seed 0; every
# decoder linear; true-sequential; eval ts_dev.txt at seqlen 512) and prints mcomp's
# perplexity, the reference's, and the relative difference.
#
#   bench/gptq/quality.sh [BUILD_DIR] [DEVICE]      # default build/release, cpu
#
# Output format "dense": the checkpoint keeps fp32 scales, as the reference evaluates.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
device=${2:-cpu}
mcomp="$build/bin/mcomp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name | stage params | reference ppl (IST-DASLab/gptq on an H100, from the issue)
rows=(
    "RTN w4 g64|use = \"rtn\"\nparams = { bits = 4, group_size = 64 }|41.7336"
    "GPTQ w4 g32|use = \"gptq\"\nparams = { bits = 4, group_size = 32 }|40.8055"
    "GPTQ w4 g32 act-order|use = \"gptq\"\nparams = { bits = 4, group_size = 32, act_order = true }|40.8896"
    "GPTQ w4 g64|use = \"gptq\"\nparams = { bits = 4, group_size = 64 }|41.2909"
    "GPTQ w4 g64 act-order|use = \"gptq\"\nparams = { bits = 4, group_size = 64, act_order = true }|41.0402"
    "GPTQ w3 g32|use = \"gptq\"\nparams = { bits = 3, group_size = 32 }|46.2346"
    "GPTQ w3 g32 act-order|use = \"gptq\"\nparams = { bits = 3, group_size = 32, act_order = true }|44.9215"
    "GPTQ w4 g32 sym|use = \"gptq\"\nparams = { bits = 4, group_size = 32, sym = true }|41.4914"
)

echo "| config | mcomp ppl ($device) | reference ppl | relative difference |"
echo "|---|---|---|---|"
i=0
for row in "${rows[@]}"; do
    IFS='|' read -r name stage ref <<<"$row"
    i=$((i + 1))
    cat >"$work/p$i.toml" <<TOML
[model]
path = "\${MCOMP_TEST_DATA}/models/TinyStories-656K"
[calibration]
text = "\${MCOMP_TEST_DATA}/data/tinystories/ts_calib.txt"
samples = 128
seqlen = 512
seed = 0
[[stage]]
$(printf '%b' "$stage")
device = "$device"
[output]
dir = "$work/out$i"
formats = ["dense"]
[eval]
texts = ["\${MCOMP_TEST_DATA}/data/tinystories/ts_dev.txt"]
seqlen = 512
TOML
    "$mcomp" --quiet run --json "$work/p$i.toml" >"$work/r$i.json" 2>"$work/e$i.log" || {
        echo "| $name | failed: $(tail -1 "$work/e$i.log") | $ref | |"
        continue
    }
    python3 - "$work/out$i/report.json" "$name" "$ref" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ppl = report["eval"][0]["after"][0]["ppl"]
ref = float(sys.argv[3])
print(f"| {sys.argv[2]} | {ppl:.4f} | {ref:.4f} | {100 * (ppl - ref) / ref:+.3f}% |")
PY
done
