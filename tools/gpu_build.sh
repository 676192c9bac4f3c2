#!/usr/bin/env bash
# make gpu: the CUDA build, on a GPU machine with PyTorch. LibTorch, CUDA and
# NCCL come from that PyTorch (torch.utils.cmake_prefix_path); the other
# libraries from the system where `make deps` installed them, else from the
# Debian packages that `make gpu-debs` fetched into .deps/debs on a machine
# with apt, unpacked here into .deps/prefix (no package manager needed).
#   tools/gpu_build.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build-gpu}
py=${PYTHON:-python3}
cd "$(dirname "$0")/.."
if ! torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
  echo "make gpu: '$py' cannot import torch; set PYTHON=/path/to/python with PyTorch" >&2
  exit 2
fi
cuda=$("$py" -c 'import torch; print(torch.version.cuda or "")')
if [ -z "$cuda" ]; then
  echo "make gpu: this PyTorch ($torch_prefix) is a CPU build; the CUDA build needs a CUDA PyTorch" >&2
  exit 2
fi
abi=$("$py" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
extra=()
if [ ! -f /usr/include/fmt/core.h ] || [ ! -d /usr/include/SQLiteCpp ]; then
  if ! ls .deps/debs/*.deb > /dev/null 2>&1; then
    echo "make gpu: this machine lacks the harness's libraries and has no .deps/debs;" \
         "run 'make gpu-debs' where apt works and bring .deps along" >&2
    exit 2
  fi
  if [ "$abi" != 1 ]; then
    echo "make gpu: this PyTorch uses the old C++ ABI; Debian's C++ libraries (Boost, fmt," \
         "SQLiteCpp, GoogleTest) need PyTorch >= 2.7 (new ABI)" >&2
    exit 2
  fi
  mkdir -p .deps/prefix
  for f in .deps/debs/*.deb; do dpkg-deb -x "$f" .deps/prefix; done
  extra+=(-DLDAE_DEPS_PREFIX="$PWD/.deps/prefix")
fi
# Hopper (H100/H200) unless told otherwise; TorchConfig reads this list.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
echo "make gpu: LibTorch from $torch_prefix (CUDA $cuda), arch $TORCH_CUDA_ARCH_LIST, into $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" "${extra[@]}"
cmake --build "$build" -j "$(nproc)"
