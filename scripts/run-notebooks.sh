#!/usr/bin/env bash
# run-notebooks.sh: executes the course notebooks (docs/02-Labs/<lab>/[0-9][0-9]-*.ipynb) with
# Debian's jupyter-nbconvert and python3 kernel, lab by lab and in file-name order within a lab
# (a lab's later notebooks read what its earlier ones wrote), and fails on the first cell that
# raises. By default the executed copies go to a temporary folder, so the tree is untouched;
# --inplace writes the outputs back into the notebooks (how the committed outputs are made).
#
#   scripts/run-notebooks.sh [--inplace] [LAB_DIR...]    # default: every lab under docs/02-Labs
#
# The contract a notebook follows (so that it runs here, in CI and on a learner's machine):
#   - it runs with its own folder as the working directory and finds the repository root
#     three levels up (docs/02-Labs/<lab>/);
#   - it takes the build from MCOMP_BUILD_DIR (default <repo>/build/release) and the shared
#     model and data from MCOMP_TEST_DATA (default <repo>/../shared);
#   - it writes only under <lab>/out/ (git-ignored);
#   - its outputs hold no absolute path of this machine: after each run this script fails if
#     the executed notebook contains the repository's or the shared folder's absolute path.
#
# Environment: MCOMP_BUILD_DIR, MCOMP_TEST_DATA (both exported to the kernel), NBCONVERT
# (default /usr/bin/jupyter-nbconvert), NOTEBOOK_CELL_TIMEOUT_S (default 900).
# Exit status: 0 all executed, 1 a notebook failed, 77 jupyter-nbconvert is missing (ctest
# reports the test as skipped; scripts/setup.sh --notebooks installs it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
nbconvert=${NBCONVERT:-/usr/bin/jupyter-nbconvert}
cell_timeout_s=${NOTEBOOK_CELL_TIMEOUT_S:-900}

inplace=0
labs=()
for arg in "$@"; do
    case "$arg" in
        --inplace) inplace=1 ;;
        -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-notebooks: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) labs+=("$(cd "$arg" && pwd -P)") ;;
    esac
done

if [[ ! -x "$nbconvert" ]]; then
    echo "run-notebooks: SKIP: $nbconvert not found; install the notebook packages with" \
        "'scripts/setup.sh --notebooks' (jupyter-nbconvert python3-ipykernel" \
        "python3-matplotlib python3-pandas)" >&2
    exit 77
fi

# Absolute, because the kernel runs in the notebook's folder, not here.
build_dir=${MCOMP_BUILD_DIR:-$repo/build/release}
if [[ ! -x "$build_dir/bin/mcomp" ]]; then
    echo "run-notebooks: $build_dir/bin/mcomp not found; build first" \
        "(cmake --preset release && cmake --build --preset release)" >&2
    exit 1
fi
data_dir=${MCOMP_TEST_DATA:-$repo/../shared}
data_abs=$(cd "$data_dir" 2>/dev/null && pwd -P) || {
    echo "run-notebooks: MCOMP_TEST_DATA=$data_dir is not a folder" >&2
    exit 1
}
MCOMP_BUILD_DIR=$(cd "$build_dir" && pwd -P)
MCOMP_TEST_DATA=$data_abs
export MCOMP_BUILD_DIR MCOMP_TEST_DATA
# mcomp's OpenMP threads wait passively unless told otherwise: spinning threads on cores shared
# with other tests (ctest -j) make the notebooks several times slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Debian's python3.11 kernel warns on every start that frozen modules hide breakpoints.
export PYDEVD_DISABLE_FILE_VALIDATION=1

if ((${#labs[@]} == 0)); then
    for dir in "$repo"/docs/02-Labs/*/; do
        [[ -d "$dir" ]] && labs+=("$(cd "$dir" && pwd -P)")
    done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Kernel connection files in the temporary folder: nothing is written under $HOME.
export JUPYTER_RUNTIME_DIR=$tmp/runtime
total_start=$SECONDS
count=0
for lab in "${labs[@]}"; do
    name=$(basename "$lab")
    shopt -s nullglob
    notebooks=("$lab"/[0-9][0-9]-*.ipynb)
    shopt -u nullglob
    if ((${#notebooks[@]} == 0)); then
        echo "run-notebooks: $name: no notebooks"
        continue
    fi
    mkdir -p "$tmp/$name"
    for nb in "${notebooks[@]}"; do
        start=$SECONDS
        echo "run-notebooks: $name/$(basename "$nb") ..."
        args=(--to notebook --execute --ExecutePreprocessor.kernel_name=python3
            "--ExecutePreprocessor.timeout=$cell_timeout_s")
        if ((inplace)); then
            args+=(--inplace)
            executed=$nb
        else
            args+=(--output-dir "$tmp/$name")
            executed=$tmp/$name/$(basename "$nb")
        fi
        if ! "$nbconvert" "${args[@]}" "$nb" >"$tmp/log" 2>&1; then
            cat "$tmp/log" >&2
            echo "run-notebooks: FAILED: $name/$(basename "$nb")" >&2
            exit 1
        fi
        for abs in "$repo" "$data_abs"; do
            if grep -qF "$abs" "$executed"; then
                grep -noF "$abs" "$executed" | head -5 >&2
                echo "run-notebooks: FAILED: $name/$(basename "$nb") prints an absolute path" \
                    "($abs); print paths relative to the repository" >&2
                exit 1
            fi
        done
        echo "run-notebooks: $name/$(basename "$nb") ok ($((SECONDS - start)) s)"
        count=$((count + 1))
    done
done
echo "run-notebooks: $count notebook(s) executed in $((SECONDS - total_start)) s"
