#!/usr/bin/env bash
# run_gpu.sh: the GPU half of the sparsegpt work, in one call on the GPU machine — the CUDA
# backend's tests (CUDA vs CPU), the torch golden made on the GPU and checked against the CPU
# backend, the speed of mcomp's CUDA backend and of the reference's own torch code (fp32, TF32
# off) on [4096, 4096] and [4096 out, 11008 in] at 50% and 2:4, and one summary. About 2-3
# minutes of GPU time on one H100 (the reference's per-column loop dominates).
#
#   OUT=/some/dir bash bench/sparsegpt/run_gpu.sh
#
# Expects the device bundle unpacked as ../shared/tools/device-bundle.sh describes: the build
# under $MCOMP_BUILD (default /tmp/mc/build; bin/test_sparsegpt*, bin/mcomp_bench_sparsegpt and
# lib/mcomp/plugins/sparsegpt/ built with CUDA), python3 with torch. Writes to $OUT: run.log,
# tests_*.xml, sparsegpt_golden_cuda.json, bench_mcomp_cuda.md, bench_torch_cuda.md,
# summary.md.
set -uo pipefail

OUT=${OUT:?set OUT to the folder for the results}
BUILD=${MCOMP_BUILD:-/tmp/mc/build}
export MCOMP_TEST_DATA=${MCOMP_TEST_DATA:-/tmp/mc/shared}
export MCOMP_PLUGIN_PATH=${MCOMP_PLUGIN_PATH:-$BUILD/lib/mcomp/plugins}
if [ -d /tmp/mc/lib ]; then
    export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$OUT"
log="$OUT/run.log"
: > "$log"
status=()

step() {  # step NAME TIMEOUT_S COMMAND...: runs, logs, remembers the exit status
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $*" | tee -a "$log"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    status+=("$name: exit $rc in $((SECONDS - start)) s")
}

{
    echo "=== machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    lscpu | grep -m1 'Model name'
    nproc
} 2>&1 | tee -a "$log"

# ---- tests (CUDA vs CPU; the golden from torch on the GPU against the CPU backend) ----------
step tests_cuda 240 "$BUILD/bin/test_sparsegpt_cuda" --gtest_output="xml:$OUT/tests_cuda.xml"
step golden_make 120 python3 "$repo/plugins/sparsegpt/tests/golden/make_golden.py" \
    --device cuda --out "$OUT/sparsegpt_golden_cuda.json"
step tests_golden 120 env MCOMP_SPARSEGPT_GOLDEN="$OUT/sparsegpt_golden_cuda.json" \
    "$BUILD/bin/test_sparsegpt_golden" --gtest_output="xml:$OUT/tests_golden.xml"

# ---- speed: H from 128 x 2048 tokens, 50% and 2:4, block 128 --------------------------------
step bench_mcomp_cuda 300 bash -c "'$BUILD/bin/mcomp_bench_sparsegpt' --device cuda \
    --shapes 4096x4096,4096x11008 --modes 50,2:4 --samples 128 --tokens 2048 --repeats 3 \
    > '$OUT/bench_mcomp_cuda.md'; cat '$OUT/bench_mcomp_cuda.md'"
step bench_torch_cuda 600 bash -c "PYTHONUNBUFFERED=1 python3 '$here/reference_timing.py' \
    --device cuda --shapes 4096x4096,4096x11008 --modes 50,2:4 --samples 128 --tokens 2048 \
    --repeats 3 > '$OUT/bench_torch_cuda.md'; cat '$OUT/bench_torch_cuda.md'"

{
    echo "| device | shape [out, in] | mode | hessian: 128 samples x 2048 tokens (s) | prune, block 128 (s) | hessian GFLOP/s |"
    echo "|---|---|---|---|---|---|"
    cat "$OUT/bench_mcomp_cuda.md" "$OUT/bench_torch_cuda.md" | grep -E '^\| (cuda|torch) '
} > "$OUT/summary.md"

echo
echo "=== status"
printf '%s\n' "${status[@]}"
grep -hE '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?[,.]|^\[  FAILED  \] [A-Z]' "$log" | sort | uniq -c
grep -hE 'tied rows' "$log" | head -60
echo
cat "$OUT/summary.md"
