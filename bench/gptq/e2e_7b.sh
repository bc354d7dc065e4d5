#!/usr/bin/env bash
# e2e_7b.sh: GPTQ end to end on a Llama-2-7B-shaped model (32 blocks, hidden 4096, MLP 11008,
# random fp16 weights from `mcomp synth`), w4 g128 with act-order, 128 x 2048 calibration
# tokens, the calibration forward passes and the GPTQ stage on the GPU: one `mcomp run` that
# loads, calibrates, quantizes, packs (GPTQ layout) and writes. Prints the wall time of the
# run, the peak GPU memory (nvidia-smi, sampled every 100 ms) and the run's phase times.
#
#   bench/gptq/e2e_7b.sh BUILD_DIR WORK_DIR [FORWARD_DTYPE]     # FORWARD_DTYPE f16 (default) | f32
#
# The synthetic tokenizer is byte-level, so ts_calib.txt gives enough tokens for 128 windows
# of 2048. WORK_DIR needs about 35 GB free (model 13.5 GB, work folder, output 3.9 GB).
set -euo pipefail
build=${1:?give the build folder}
work=${2:?give a scratch folder}
dtype=${3:-f16}
mcomp="$build/bin/mcomp"
data=${MCOMP_TEST_DATA:?set MCOMP_TEST_DATA to the shared test material}
mkdir -p "$work"

if [ ! -f "$work/model/config.json" ]; then
    start=$(date +%s.%N)
    "$mcomp" synth --config llama-2-7b --dtype f16 --out "$work/model" --force
    echo "synth: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s (not part of the timed run)"
fi

cat >"$work/pipeline.toml" <<TOML
[model]
path = "$work/model"

[calibration]
text = "$data/data/tinystories/ts_calib.txt"
samples = 128
seqlen = 2048
seed = 0
device = "cuda"
dtype = "$dtype"

[[stage]]
use = "gptq"
device = "cuda"
params = { bits = 4, group_size = 128, act_order = true }

[output]
dir = "$work/out"
formats = ["gptq"]
TOML

# Drop the model from the page cache so the load is part of the measurement.
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"

nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$work/gpu_mem.txt" &
smi=$!
start=$(date +%s.%N)
"$mcomp" run "$work/pipeline.toml" --force --fresh
end=$(date +%s.%N)
kill $smi 2>/dev/null || true
wait $smi 2>/dev/null || true

echo "wall: $(python3 -c "print(round($end - $start, 1))") s (load -> calibrate -> quantize -> pack -> write)"
echo "peak GPU memory: $(sort -n "$work/gpu_mem.txt" | tail -1) MiB (nvidia-smi, whole device)"
du -sh "$work/model" "$work/out"
python3 - "$work/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("phases", "stages", "timing", "resources"):
    if key in r:
        print(key, json.dumps(r[key], indent=1)[:3000])
PY
