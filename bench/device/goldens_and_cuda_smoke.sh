#!/usr/bin/env bash
# goldens_and_cuda_smoke.sh: on the GPU machine, unpack the device bundle, make the golden
# files from the Hugging Face reference (transformers, tokenizers, torch), and run the CUDA
# tests of the plugins and the runtime. Writes everything to $OUT.
#
#   bash bench/device/goldens_and_cuda_smoke.sh      (from the repository root, OUT set)
set -uo pipefail
mkdir -p /tmp/mc && tar xzf .devbundle/bundle.tar.gz -C /tmp/mc
export LD_LIBRARY_PATH=/tmp/mc/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export MCOMP_TEST_DATA=/tmp/mc/shared
export MCOMP_PLUGIN_PATH=/tmp/mc/build/lib/mcomp/plugins
model=/tmp/mc/shared/models/TinyStories-656K
log=$OUT/device.log
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch, transformers, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__)"
    python3 tests/golden/model/make_golden_logits.py --model "$model" --out "$OUT/tinystories656k_logits.json"
    python3 plugins/rtn/tests/golden/make_rtn_golden.py --model "$model" --out "$OUT/rtn_ts656k.json"
    mkdir -p "$OUT/tok"
    python3 tests/golden/tokenizer/make_golden.py --model-dir "$model" --data-dir /tmp/mc/shared/data --out-dir "$OUT/tok"
    for t in /tmp/mc/build/bin/test_*cuda* ; do
        [ -x "$t" ] || continue
        echo "=== $(basename "$t")"
        "$t" --gtest_brief=1 2>&1 | tail -30
    done
} > "$log" 2>&1
tail -c 11000 "$log"
