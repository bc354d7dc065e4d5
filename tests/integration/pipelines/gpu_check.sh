#!/usr/bin/env bash
# gpu_check.sh: the compression engine on a machine with a GPU (run there by hand; CI has
# none). With stage devices "auto", the ready pipelines pick the plugins' CUDA backends;
# RTN's CUDA kernel is bit-identical to its CPU one, so the perplexities must be those of
# the CPU runs. `mcomp eval --device cuda` (the CUDA runtime backend in fp32) must agree with
# --device cpu to 1e-3.
#
#   tests/integration/pipelines/gpu_check.sh <build dir>     # from the repository root
#
# Prints one line per check and exits non-zero on the first mismatch.
set -euo pipefail
build=${1:?give the build folder}
mcomp="$build/bin/mcomp"
export MCOMP_PLUGIN_PATH="$build/lib/mcomp/plugins"
data=${MCOMP_TEST_DATA:-$(cd "$(dirname "$0")/../../../../shared" && pwd)}
export MCOMP_TEST_DATA="$data"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ppl_after() {  # report.json -> ppl after of the first format
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['eval'][0]['after'][0]['ppl'])" "$1"
}
check() {  # name value expected tolerance
    python3 -c "import sys; v,e,t=map(float,sys.argv[2:5]); ok=abs(v-e)<=t; print(('ok  ' if ok else 'BAD ')+sys.argv[1]+': %.6f (expected %.6f +- %g)'%(v,e,t)); sys.exit(0 if ok else 1)" "$@"
}

"$mcomp" run manifests/pipelines/rtn-w4g64.toml -o "$out/rtn" --quiet
check "rtn-w4g64 (gptq) on $(grep -o '"device": "[a-z]*"' "$out/rtn/report.json" | head -1)" \
    "$(ppl_after "$out/rtn/report.json")" 41.7328 5e-4
"$mcomp" run manifests/pipelines/magnitude-50.toml -o "$out/mag" --quiet
check "magnitude-50" "$(ppl_after "$out/mag/report.json")" 83.9991 5e-4

for device in cpu cuda; do
    "$mcomp" eval --model "$out/rtn" --text "$data/data/tinystories/ts_dev.txt" --seqlen 512 \
        --device $device --json > "$out/eval-$device.json"
done
cpu=$(python3 -c "import json; print(json.load(open('$out/eval-cpu.json'))['ppl'])")
cuda=$(python3 -c "import json; print(json.load(open('$out/eval-cuda.json'))['ppl'])")
check "mcomp eval --device cuda vs cpu" "$cuda" "$cpu" 1e-3
python3 -c "import json; print('cuda eval speed: %.0f tokens/s' % json.load(open('$out/eval-cuda.json'))['tokens_per_s'])"
