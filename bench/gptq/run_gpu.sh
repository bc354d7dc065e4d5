#!/usr/bin/env bash
# run_gpu.sh: the GPU half of the gptq work, in one call on the GPU machine — the CUDA
# backend's tests (CUDA vs CPU), the torch golden made on the GPU and checked against the CPU
# backend, the speed of mcomp (CUDA, then CPU on a smaller load) and of the reference's own torch
# code (fp32, TF32 off, median of 6) in the same run, and one summary.
#
#   OUT=/some/dir bash bench/gptq/run_gpu.sh
#
# Expects the device bundle unpacked as ../shared/tools/device-bundle.sh describes: the build
# under $MCOMP_BUILD (default /tmp/mc/build; bin/test_gptq*, bin/mcomp_bench_gptq and
# lib/mcomp/plugins/gptq/ built with CUDA), python3 with torch. Writes to $OUT: run.log,
# tests_*.xml, gptq_golden_cuda.json, bench_mcomp_cuda.md, bench_torch_cuda.md,
# bench_mcomp_cpu.md, summary.md. The reference's part dominates: about 15 minutes on one H100
# (6 repeats x 2 shapes x 2 orders of fasterquant, 1.3 s and 3.8 s each, plus add_batch).
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

# ---- tests ----------------------------------------------------------------------------------
step tests_cuda 600 "$BUILD/bin/test_gptq_cuda" --gtest_output="xml:$OUT/tests_cuda.xml"
step tests_cpu 300 "$BUILD/bin/test_gptq" --gtest_output="xml:$OUT/tests_cpu.xml"
step golden_make 300 python3 "$repo/plugins/gptq/tests/golden/make_golden.py" --device cuda \
    --out "$OUT/gptq_golden_cuda.json"
step tests_golden 300 env MCOMP_GPTQ_GOLDEN="$OUT/gptq_golden_cuda.json" \
    "$BUILD/bin/test_gptq_golden" --gtest_output="xml:$OUT/tests_golden.xml"

# ---- speed: [4096, 4096] and [4096 out, 11008 in], H from 128 x 2048 tokens ---------------
step bench_mcomp_cuda 600 bash -c "'$BUILD/bin/mcomp_bench_gptq' --device cuda \
    --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 6 \
    > '$OUT/bench_mcomp_cuda.md'; cat '$OUT/bench_mcomp_cuda.md'"
step bench_torch_cuda 1500 bash -c "PYTHONUNBUFFERED=1 python3 '$here/reference_timing.py' \
    --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 6 \
    > '$OUT/bench_torch_cuda.md'; cat '$OUT/bench_torch_cuda.md'"
step bench_mcomp_cpu 900 bash -c "'$BUILD/bin/mcomp_bench_gptq' --device cpu \
    --shapes 4096x4096,4096x11008 --samples 16 --tokens 512 --repeats 1 \
    > '$OUT/bench_mcomp_cpu.md'; cat '$OUT/bench_mcomp_cpu.md'"

{
    echo "| device | shape [out, in] | act-order | hessian (s) | quantize w4 g128 (s) | hessian GFLOP/s |"
    echo "|---|---|---|---|---|---|"
    cat "$OUT/bench_mcomp_cuda.md" "$OUT/bench_torch_cuda.md" "$OUT/bench_mcomp_cpu.md" |
        grep -E '^\| (cpu|cuda|torch) '
    echo
    echo "(mcomp cpu: 16 samples x 512 tokens; the others 128 x 2048)"
} > "$OUT/summary.md"

echo
echo "=== status"
printf '%s\n' "${status[@]}"
grep -hE '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?[,.]|^\[  FAILED  \] [A-Z]' "$log" | sort | uniq -c
grep -h 'tied rows' "$log" | head -40
echo
cat "$OUT/summary.md"
