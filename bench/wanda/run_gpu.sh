#!/usr/bin/env bash
# run_gpu.sh: the GPU half of the wanda work, in one call on the GPU machine — the CUDA
# backend's tests (CUDA vs CPU masks, bit for bit; the hand table on CUDA), the golden masks
# from torch (made here, then checked on both backends), the speed of mcomp (CUDA and CPU)
# and of the reference's own torch code in the same run, and one summary.
#
#   OUT=/some/dir bash bench/wanda/run_gpu.sh
#
# Expects the device bundle unpacked as ../shared/tools/device-bundle.sh describes: the
# build under $MCOMP_BUILD (default /tmp/mc/build; bin/test_wanda*, bin/mcomp_bench_wanda
# and lib/mcomp/plugins/wanda/ built), python3 with torch. Writes to $OUT: run.log,
# tests_*.xml, wanda_golden.json (commit it as plugins/wanda/tests/golden/wanda_golden.json),
# bench_mcomp_cuda.md, bench_mcomp_cpu.md, bench_torch_cuda.md, summary.md. A few minutes
# on one H100.
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

# ---- tests --------------------------------------------------------------------------------
step tests_cuda 300 "$BUILD/bin/test_wanda_cuda" --gtest_output="xml:$OUT/tests_cuda.xml"
step tests_cpu 300 "$BUILD/bin/test_wanda" --gtest_output="xml:$OUT/tests_cpu.xml"
step golden_make 300 python3 "$repo/plugins/wanda/tests/golden/make_wanda_golden.py" \
    --out "$OUT/wanda_golden.json"
step tests_golden 300 env MCOMP_WANDA_GOLDEN="$OUT/wanda_golden.json" \
    "$BUILD/bin/test_wanda_golden" --gtest_output="xml:$OUT/tests_golden.xml"

# ---- speed: score + mask on [4096, 4096] and [4096, 11008], norms from 128 x 2048 tokens ---
step bench_mcomp_cuda 420 bash -c "'$BUILD/bin/mcomp_bench_wanda' --device cuda \
    --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 5 \
    > '$OUT/bench_mcomp_cuda.md'; cat '$OUT/bench_mcomp_cuda.md'"
step bench_torch_cuda 420 bash -c "PYTHONUNBUFFERED=1 python3 '$here/reference_timing.py' \
    --ties --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 \
    --repeats 5 > '$OUT/bench_torch_cuda.md'; cat '$OUT/bench_torch_cuda.md'"
step bench_mcomp_cpu 420 bash -c "'$BUILD/bin/mcomp_bench_wanda' --device cpu \
    --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 3 \
    > '$OUT/bench_mcomp_cpu.md'; cat '$OUT/bench_mcomp_cpu.md'"

{
    echo "| device | shape [out, in] | mode | norms: 128 samples x 2048 tokens (s) | score+mask (s) |"
    echo "|---|---|---|---|---|"
    cat "$OUT/bench_mcomp_cuda.md" "$OUT/bench_torch_cuda.md" "$OUT/bench_mcomp_cpu.md" |
        grep -E '^\| (cpu|cuda|torch) '
} > "$OUT/summary.md"

# ---- what the reply shows: status, failed tests, the table ---------------------------------
echo
echo "=== status"
printf '%s\n' "${status[@]}"
grep -hE '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?[,.]|^\[  FAILED  \] [A-Z]' "$log" | sort | uniq -c
grep -h 'differs from torch CUDA' "$log"
grep -hA3 '^tie behaviour' "$log"
echo
cat "$OUT/summary.md"
