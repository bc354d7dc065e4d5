#!/usr/bin/env bash
# demo.sh: the main job. Builds mcomp, then compresses the bundled default model with a ready
# pipeline (default: GPTQ 4-bit, groups of 64, calibrated on 128 x 512 tokens) and prints the
# before/after table from its report.
#
#   scripts/demo.sh [pipeline.toml]     # default: manifests/pipelines/gptq-w4g64.toml
#
# The shared model and data are found through MCOMP_TEST_DATA (default: ../shared). The
# checkpoint and report land in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
pipeline=${1:-manifests/pipelines/gptq-w4g64.toml}
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
build/release/bin/mcomp plugins list
build/release/bin/mcomp run "$pipeline" --output out/demo --force
echo
sed -n '/^## Perplexity/,/^## Stages/p' out/demo/report.md | sed '$d'
