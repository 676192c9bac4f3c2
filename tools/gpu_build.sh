#!/usr/bin/env bash
# make gpu: the harness built on a GPU machine against that machine's own
# PyTorch 2.11 (LibTorch, CUDA, cuDNN, NCCL come with it and its CUDA
# toolkit). The other libraries come from the system where `make deps`
# installed them, else from the Debian packages that `make gpu-debs` fetched
# into .deps/debs on a machine with apt, unpacked here into .deps/prefix (no
# package manager needed).
#   tools/gpu_build.sh [BUILD_DIR]      (PYTHON: the interpreter with torch; default python3;
#                                        LDAE_USE_DEPS=1: take .deps even where the system has
#                                        the libraries, to rehearse a GPU machine's build)
set -euo pipefail
build=${1:-build-gpu}
py=${PYTHON:-python3}
cd "$(dirname "$0")/.."
if ! version=$("$py" -c 'import torch; print(torch.__version__.split("+")[0])' 2> /dev/null); then
  echo "make gpu: '$py' cannot import torch; set PYTHON=/path/to/python of PyTorch 2.11" >&2
  exit 2
fi
if [ "$version" != 2.11.0 ]; then
  echo "make gpu: '$py' has PyTorch $version; the harness is built against 2.11.0" >&2
  exit 2
fi
extra=()
if [ "${LDAE_USE_DEPS:-0}" = 1 ] || [ ! -f /usr/include/fmt/core.h ] || [ ! -d /usr/include/SQLiteCpp ] \
   || [ ! -f /usr/include/gloo/config.h ]; then
  if ! ls .deps/debs/*.deb > /dev/null 2>&1; then
    echo "make gpu: this machine lacks the harness's libraries and has no .deps/debs;" \
         "run 'make gpu-debs' where apt works and bring .deps along" >&2
    exit 2
  fi
  if [ ! -f .deps/prefix/.unpacked ] || [ -n "$(find .deps/debs -newer .deps/prefix/.unpacked -name '*.deb')" ]; then
    mkdir -p .deps/prefix
    for f in .deps/debs/*.deb; do dpkg-deb -x "$f" .deps/prefix; done
    touch .deps/prefix/.unpacked
  fi
  extra+=(-DLDAE_DEPS_PREFIX="$PWD/.deps/prefix")
fi
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
# Hopper (H100/H200) unless told otherwise; TorchConfig reads this list.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
echo "make gpu: LibTorch from $("$py" -c 'import torch; print(torch.__version__, torch.utils.cmake_prefix_path)'), arch $TORCH_CUDA_ARCH_LIST, into $build"
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLDAE_PYTHON="$(command -v "$py")" "${extra[@]}"
cmake --build "$build" -j "$(nproc)"
