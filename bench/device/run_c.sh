#!/usr/bin/env bash
# run_c.sh: the engine's forward passes on the GPU. Part "check": the block engine's GPU test,
# the GPTQ CUDA agreement test and the GPTQ quality table with the stage and the calibration
# passes on the GPU. Part "e2e": GPTQ end to end on a Llama-2-7B-shaped model
# (bench/gptq/e2e_7b.sh). Logs and tables in $OUT.
#
#   bash bench/device/run_c.sh check|synth|e2e     (repository root on the GPU machine, OUT set)
set -uo pipefail
part=${1:?check or e2e}
mkdir -p /tmp/mc && [ -x /tmp/mc/build/bin/mcomp ] || tar xzf .devbundle/bundle.tar.gz -C /tmp/mc
export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export MCOMP_TEST_DATA=/tmp/mc/shared MCOMP_PLUGIN_PATH=/tmp/mc/build/lib/mcomp/plugins
# Test binaries carry the build folder they were built in.
mkdir -p /tmp/snap2/build && ln -sfn /tmp/mc/build /tmp/snap2/build/device
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"

if [ "$part" = check ]; then
    for t in test_block_engine test_gptq_cuda; do
        bin=$(find /tmp/mc/build -name "$t" -type f | head -1)
        timeout 120 "$bin" >"$OUT/$t.log" 2>&1
        echo "$t: exit $? ($(grep -cE '^\[       OK' "$OUT/$t.log") ok, $(grep -cE '^\[  SKIPPED' "$OUT/$t.log") skipped)" |
            tee -a "$OUT/status.txt"
    done
    start=$(date +%s)
    timeout 300 bash bench/gptq/quality.sh /tmp/mc/build cuda >"$OUT/quality-cuda.md" 2>"$OUT/quality-cuda.log"
    echo "quality.sh cuda: exit $? in $(($(date +%s) - start)) s" | tee -a "$OUT/status.txt"
    cat "$OUT/quality-cuda.md"
    # The ready GPTQ pipeline with device auto: stage and forward passes on the GPU.
    /tmp/mc/build/bin/mcomp run manifests/pipelines/gptq-w4g64.toml -o /tmp/gptq-w4g64 --force \
        >"$OUT/gptq-w4g64.log" 2>&1
    python3 -c "import json; r=json.load(open('/tmp/gptq-w4g64/report.json')); print('gptq-w4g64 (gptq format): forward on', r['calibration']['device'], r['calibration']['dtype'], 'stage on', r['stages'][0]['device'], 'ppl', r['eval'][0]['before'][0]['ppl'], '->', r['eval'][0]['after'][0]['ppl'])" |
        tee -a "$OUT/status.txt"
fi

if [ "$part" = synth ]; then  # the model alone (e2e makes it when missing; not timed there)
    start=$(date +%s)
    /tmp/mc/build/bin/mcomp synth --config llama-2-7b --dtype f16 --out /tmp/e2e/model --force >"$OUT/synth.log" 2>&1
    echo "synth: exit $? in $(($(date +%s) - start)) s" | tee -a "$OUT/status.txt"
    du -sh /tmp/e2e/model; df -h /tmp | tail -1
fi

if [ "$part" = e2e ]; then
    timeout "${E2E_TIMEOUT:-580}" bash bench/gptq/e2e_7b.sh /tmp/mc/build /tmp/e2e "${DTYPE:-f16}" >"$OUT/e2e.log" 2>&1
    echo "e2e: exit $?" | tee -a "$OUT/status.txt"
    grep -vE '^\s*$' "$OUT/e2e.log" | grep -v "sample [0-9]*/" | tail -60
    df -h /tmp | tail -1
fi
