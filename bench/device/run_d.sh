#!/usr/bin/env bash
# run_d.sh: the pruning quality table of issue 6 with every stage on the GPU — the ready
# pipelines with device "auto" pick the plugins' CUDA backends, and the calibration passes
# follow them to the GPU (fp32). Prints mcomp's perplexity next to the reference's, the
# overall sparsity of each output, and the CUDA agreement tests of Wanda and SparseGPT.
#
#   bash bench/device/run_d.sh        (repository root on the GPU machine, OUT set)
set -uo pipefail
mkdir -p /tmp/mc && [ -x /tmp/mc/build/bin/mcomp ] || tar xzf .devbundle/bundle.tar.gz -C /tmp/mc
export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export MCOMP_TEST_DATA=/tmp/mc/shared MCOMP_PLUGIN_PATH=/tmp/mc/build/lib/mcomp/plugins
mkdir -p /tmp/snap2/build && ln -sfn /tmp/mc/build /tmp/snap2/build/device
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"

for t in test_wanda_cuda test_sparsegpt_cuda; do
    bin=$(find /tmp/mc/build -name "$t" -type f | head -1)
    timeout 120 "$bin" >"$OUT/$t.log" 2>&1
    echo "$t: exit $? ($(grep -cE '^\[       OK' "$OUT/$t.log") ok, $(grep -cE '^\[  SKIPPED' "$OUT/$t.log") skipped)"
done

echo "| pipeline | stage device | forward | mcomp ppl | reference ppl | relative difference | sparsity |"
echo "|---|---|---|---|---|---|---|"
for row in magnitude-50:83.9991 wanda-50:71.6115 wanda-2of4:138.7645 sparsegpt-50:59.1790 \
    sparsegpt-2of4:90.8058 sparsegpt-50-w4:62.1344; do
    name=${row%%:*}
    ref=${row##*:}
    /tmp/mc/build/bin/mcomp run "manifests/pipelines/$name.toml" -o "/tmp/q/$name" --force \
        >"$OUT/$name.log" 2>&1 || { echo "| $name | failed, see $name.log |"; continue; }
    python3 - "/tmp/q/$name/report.json" "$name" "$ref" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ref = float(sys.argv[3])
ppl = r["eval"][0]["after"][0]["ppl"]
out = r["outputs"][0]
print("| %s | %s | %s %s | %.4f | %.4f | %+.3f%% | %.6f |" % (
    sys.argv[2], r["stages"][0]["device"],
    *((r["calibration"]["device"], r["calibration"]["dtype"]) if r.get("calibration") else ("none", "")),
    ppl, ref, 100 * (ppl - ref) / ref, out.get("sparsity", float("nan"))))
PY
done
