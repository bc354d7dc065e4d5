#!/usr/bin/env bash
# run_gpu.sh: the GPU half of the runtime work, in one call on the GPU machine — the CUDA
# backend's tests (kernels vs their CPU twins, the forward vs the CPU, TinyStories-656K
# perplexity 39.6444 on CUDA), then the forward benchmark of mcomp (F32, F16, BF16) and of
# transformers (same config, same machine, same run), then one summary table.
#
#   OUT=/some/dir bash bench/runtime/run_gpu.sh
#
# From the repository root. Uses the device bundle of ../shared/tools/device-bundle.sh
# (unpacked from .devbundle/bundle.tar.gz into /tmp/mc when it is not there yet): the build
# under $MCOMP_BUILD (default /tmp/mc/build; test and bench executables in bin/: build the
# targets test_runtime_cuda_backend, test_runtime_cuda_model and mcomp_bench_forward before
# bundling), the shared material under $MCOMP_TEST_DATA (default /tmp/mc/shared), python3
# with torch and transformers. Writes to $OUT: run.log, tests_backend.xml, tests_model.xml,
# bench_mcomp.jsonl, bench_hf.jsonl, summary.md. About 3 minutes on one H100.
set -uo pipefail

OUT=${OUT:?set OUT to the folder for the results}
BUILD=${MCOMP_BUILD:-/tmp/mc/build}
export MCOMP_TEST_DATA=${MCOMP_TEST_DATA:-/tmp/mc/shared}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export MCOMP_SOURCE_DIR=$repo  # the tests' golden files (tests/golden/...)
if [ ! -x "$BUILD/bin/test_runtime_cuda_backend" ] && [ -f "$repo/.devbundle/bundle.tar.gz" ]; then
    mkdir -p /tmp/mc && tar xzf "$repo/.devbundle/bundle.tar.gz" -C /tmp/mc
fi
if [ -d /tmp/mc/lib ]; then
    export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
fi
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
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
    nproc
} 2>&1 | tee -a "$log"

# ---- tests --------------------------------------------------------------------------------
step tests_backend 300 "$BUILD/bin/test_runtime_cuda_backend" \
    --gtest_output="xml:$OUT/tests_backend.xml"
step tests_model 300 "$BUILD/bin/test_runtime_cuda_model" \
    --gtest_output="xml:$OUT/tests_model.xml"

# ---- benchmarks: TinyLlama-1.1B shape, seqlen 512, batch 1..8 ------------------------------
rm -f "$OUT/bench_mcomp.jsonl" "$OUT/bench_hf.jsonl"
step bench_mcomp 420 "$BUILD/bin/mcomp_bench_forward" --device cuda --dtypes f32,f16,bf16 \
    --layers 22 --seq 512 --batches 1,2,4,8 --warmup 2 --batch-warmup 1 --iters 5 \
    --json "$OUT/bench_mcomp.jsonl" --tmp /tmp
step bench_hf 420 env PYTHONUNBUFFERED=1 python3 "$here/hf_forward.py" --dtypes f32,f16,bf16 \
    --layers 22 --seq 512 --batches 1,2,4,8 --warmup 2 --iters 5 --json "$OUT/bench_hf.jsonl"

python3 "$here/summarize.py" "$OUT/bench_mcomp.jsonl" "$OUT/bench_hf.jsonl" > "$OUT/summary.md"

# ---- what the reply shows: status, failed tests, the table ---------------------------------
echo
echo "=== status"
printf '%s\n' "${status[@]}"
grep -hE '^\[  PASSED  \]|^\[  SKIPPED \] [0-9]+ tests?,|^\[  FAILED  \]' "$log" | sort -u | head -40
grep -h '^CUDA .* ppl ' "$log"
echo
cat "$OUT/summary.md"
