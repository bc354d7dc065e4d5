#!/usr/bin/env bash
# run_b.sh: second half of the GPU session — GPTQ (CUDA tests, golden made on the GPU, speed
# of mcomp next to the reference's torch code in the same run, with 3 repeats), the GPTQ
# quality table with the stage on CUDA, and SparseGPT's GPU script when present. Results
# packed into $OUT/results_b.tar.gz.
#
#   bash bench/device/run_b.sh          (repository root on the GPU machine, OUT set)
set -uo pipefail
mkdir -p /tmp/mc && [ -x /tmp/mc/build/bin/mcomp ] || tar xzf .devbundle/bundle.tar.gz -C /tmp/mc
export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export MCOMP_TEST_DATA=/tmp/mc/shared MCOMP_PLUGIN_PATH=/tmp/mc/build/lib/mcomp/plugins
export MCOMP_SOURCE_DIR=$PWD PYTHONUNBUFFERED=1
res=/tmp/results_b && rm -rf $res && mkdir -p $res/gptq $res/sparsegpt
B=/tmp/mc/build
{
    echo "=== gptq cuda tests"; timeout 120 $B/bin/test_gptq_cuda --gtest_brief=1
    echo "=== gptq golden on cuda"
    timeout 120 python3 plugins/gptq/tests/golden/make_golden.py --device cuda --out $res/gptq/gptq_golden_cuda.json &&
        MCOMP_GPTQ_GOLDEN=$res/gptq/gptq_golden_cuda.json timeout 120 $B/bin/test_gptq_golden --gtest_brief=1
    echo "=== gptq bench mcomp cuda"
    timeout 200 $B/bin/mcomp_bench_gptq --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 3
    echo "=== gptq reference timing (torch, fp32, TF32 off)"
    timeout 200 python3 bench/gptq/reference_timing.py --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048 --repeats 3
} > $res/gptq/run.log 2>&1
echo "gptq: done" >> $OUT/status.txt
timeout 240 bash bench/gptq/quality.sh $B cuda > $res/gptq/quality_cuda.md 2>&1
echo "gptq quality cuda: exit $?" >> $OUT/status.txt
timeout 150 bash tests/integration/pipelines/gpu_check.sh $B > $res/compress_gpu_check.log 2>&1
echo "compress gpu_check: exit $?" >> $OUT/status.txt
if [ -f bench/sparsegpt/run_gpu.sh ]; then
    OUT=$res/sparsegpt timeout 150 bash bench/sparsegpt/run_gpu.sh > $res/sparsegpt.log 2>&1
    echo "sparsegpt: exit $?" >> $OUT/status.txt
fi
tar czf $OUT/results_b.tar.gz -C /tmp results_b
grep -E "^\[  (PASSED|FAILED|SKIPPED)|^\|" $res/gptq/run.log | head -40
cat $res/gptq/quality_cuda.md
cat $res/compress_gpu_check.log | tail -12
cat $OUT/status.txt
