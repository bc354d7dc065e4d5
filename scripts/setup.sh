#!/usr/bin/env bash
# setup.sh: installs what mcomp needs to build and test, from Debian's packages. Idempotent:
# packages already present are left alone, and apt runs only when something is missing.
#
#   scripts/setup.sh            # build + test dependencies
#   scripts/setup.sh --notebooks  # also the Python kernel used to execute the course notebooks
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git python3
    libdnnl-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
    libboost-dev libboost-filesystem-dev
    googletest libgtest-dev
    nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libpcre2-dev libssl-dev libicu-dev
)
if [[ "${1:-}" == "--notebooks" ]]; then
    packages+=(jupyter-nbconvert python3-ipykernel python3-matplotlib python3-pandas python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "setup: all ${#packages[@]} packages present"
else
    echo "setup: installing ${missing[*]}"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
fi

if [[ -x /usr/local/cuda/bin/nvcc ]]; then
    echo "setup: CUDA toolkit found at /usr/local/cuda (CUDA backends will be built)"
else
    echo "setup: no CUDA toolkit at /usr/local/cuda (CPU backends only)"
fi
