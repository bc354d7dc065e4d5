#!/usr/bin/env bash
# test.sh: configures, builds and runs every test (what CI runs). Tests that need a GPU skip
# without one; tests that need the shared model and data skip without MCOMP_TEST_DATA
# (default: ../shared beside the repository).
#
#   scripts/test.sh [extra ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs" "$@"
