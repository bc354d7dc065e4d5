#!/usr/bin/env bash
# run_a.sh: first half of the GPU session — runtime (CUDA forward tests + forward benchmark vs
# transformers), Wanda (CUDA tests, golden, benchmark vs the reference's torch code) and the
# host's CUDA layer-runner test. Results packed into $OUT/results_a.tar.gz; logs in $OUT.
#
#   bash bench/device/run_a.sh          (repository root on the GPU machine, OUT set)
set -uo pipefail
mkdir -p /tmp/mc && [ -x /tmp/mc/build/bin/mcomp ] || tar xzf .devbundle/bundle.tar.gz -C /tmp/mc
export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export MCOMP_TEST_DATA=/tmp/mc/shared MCOMP_PLUGIN_PATH=/tmp/mc/build/lib/mcomp/plugins
export MCOMP_SOURCE_DIR=$PWD PYTHONUNBUFFERED=1
res=/tmp/results_a && rm -rf $res && mkdir -p $res/runtime $res/wanda $res/core
OUT_SAVED=$OUT
if [ -z "${SKIP_RUNTIME:-}" ]; then
    OUT=$res/runtime timeout 300 bash bench/runtime/run_gpu.sh > $res/runtime.log 2>&1
    echo "runtime: exit $?" | tee -a $OUT_SAVED/status.txt
fi
OUT=$res/wanda timeout 200 bash bench/wanda/run_gpu.sh > $res/wanda.log 2>&1
echo "wanda: exit $?" | tee -a $OUT_SAVED/status.txt
timeout 60 /tmp/mc/build/bin/test_core_layer_runner_cuda > $res/core/layer_runner_cuda.log 2>&1
echo "core layer runner cuda: exit $?" | tee -a $OUT_SAVED/status.txt
tar czf $OUT_SAVED/results_a.tar.gz -C /tmp results_a
cat $res/runtime/summary.md $res/wanda/summary.md 2>/dev/null | head -80
tail -5 $res/core/layer_runner_cuda.log
