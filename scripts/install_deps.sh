#!/usr/bin/env bash
# Installs what building and testing sqformat needs on Debian 12 / Ubuntu 24.04 (run as root or
# with sudo available). The CUDA toolkit (nvcc) is expected at /usr/local/cuda; it is not
# installed here.
set -euo pipefail

# python3-pip: scripts/fetch_model.sh (the evaluation model); nothing else needs Python.
packages=(cmake ninja-build g++ git catch2 libbenchmark-dev libopenblas-dev clang-format python3-pip)

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${packages[@]}"

if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  echo "install_deps: nvcc found: $(/usr/local/cuda/bin/nvcc --version | tail -n 2 | head -n 1)"
elif command -v nvcc >/dev/null; then
  echo "install_deps: nvcc found on PATH: $(command -v nvcc)"
else
  echo "install_deps: WARNING: no nvcc (expected at /usr/local/cuda/bin); configure with" \
       "-DSQFORMAT_ENABLE_CUDA=OFF to build the host parts only" >&2
fi
