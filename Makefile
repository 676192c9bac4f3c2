# l-DAE ablation harness: the two commands a researcher needs are `make run`
# and `make test`; everything they depend on is installed by `make deps`.
SHELL       := /bin/bash
BUILD_DIR   ?= build
JOBS        ?= $(shell nproc)
RESULTS     ?= results
PROFILE     ?= tiny
SWEEP       ?= experiments/quickstart.toml

# Every Debian package that building, testing, running and benchmarking need
# (LibTorch is not one of them: it comes from PyPI's torch, below).
DEB_PACKAGES := build-essential cmake ccache pkg-config \
  libeigen3-dev libhdf5-dev libfmt-dev \
  libboost-program-options-dev libsqlitecpp-dev libsqlite3-dev sqlite3 \
  libgtest-dev libtomlplusplus-dev nlohmann-json3-dev zlib1g-dev \
  libjpeg62-turbo-dev libpng-dev libgloo-dev libxxhash-dev libprotobuf-dev protobuf-compiler gnuplot-nox fonts-dejavu-core dataset-fashion-mnist
# LibTorch 2.11.0 (the CUDA 13.0 build, the GPU machine's own) and the Python
# peers of `make bench`: one virtual environment outside the clone, shared by
# every clone on this machine (CI's fresh clones included). ~2.5 GB download,
# 3.8 GB installed (torch 2.11.0 with its nvidia-* CUDA 13 runtime wheels).
LDAE_VENV   ?= $(HOME)/.cache/ldae/torch-2.11.0
PYTHON      := $(LDAE_VENV)/bin/python
PY_PACKAGES := torch==2.11.0 numpy==2.4.6 torchvision==0.26.0 timm==1.0.31 safetensors==0.8.0 pandas==3.1.1 tensorboard==2.21.0 h5py==3.16.0
export LDAE_VENV
# What a GPU machine without apt needs from Debian beside PyTorch (its own
# LibTorch, CUDA and NCCL): fetched here by `make gpu-debs`, unpacked there
# by `make gpu` (Gloo's headers included: PyTorch's wheel lacks them).
GPU_DEBS := libeigen3-dev libhdf5-dev libhdf5-103-1 libsz2 libaec0 libfmt-dev libfmt9 \
  libboost-program-options-dev libboost-program-options1.74-dev libboost-program-options1.74.0 \
  libboost1.74-dev libsqlitecpp-dev libsqlite3-dev libgtest-dev googletest libtomlplusplus-dev \
  libtomlplusplus3 nlohmann-json3-dev libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16 \
  zlib1g-dev libsqlite3-0 sqlite3 libgloo-dev libxxhash-dev \
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 protobuf-compiler libprotoc32 dataset-fashion-mnist
GPU_BUILD ?= build-gpu

.PHONY: deps deps-debian deps-python configure build test run bench clean tables install gpu gpu-debs test-gpu bench-gpu

# Idempotent and fast when all is present: dpkg is asked first, apt-get only
# runs (update once, then install) for what is missing; pip only runs when
# the environment lacks torch 2.11.0.
deps: deps-debian deps-python

deps-debian:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi

deps-python:
	@tools/python_env.sh "$(LDAE_VENV)" $(PY_PACKAGES)

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DLDAE_PYTHON=$(PYTHON)

configure: $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	$(MAKE) build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job: the quick-start sweep on Fashion-MNIST, then its table.
run: deps
	$(MAKE) build
	$(BUILD_DIR)/run_sweep $(SWEEP) --profile $(PROFILE) --results $(RESULTS)
	$(BUILD_DIR)/make_tables --results $(RESULTS)

tables: build
	$(BUILD_DIR)/make_tables --results $(RESULTS)

# run_sweep, make_tables, show_noise on PATH (PREFIX/bin), the sweep files in
# PREFIX/share/ldae/experiments (a bare name finds them), the plugin headers
# and CMake package. Default PREFIX: ~/.local (its bin/ is on Debian's PATH).
PREFIX ?= $(HOME)/.local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)
	@echo "installed under $(PREFIX): try  run_sweep quickstart.toml --profile tiny --dry-run"

bench: deps
	$(MAKE) build
	bench/run_bench.sh $(BUILD_DIR)

# ---- GPU machines -------------------------------------------------------------
# The CUDA build against the PyTorch there (tools/gpu_build.sh says how).
gpu:
	tools/gpu_build.sh $(GPU_BUILD)

# Run where apt works; carry .deps to a GPU machine that has none.
gpu-debs:
	mkdir -p .deps/debs && cd .deps/debs && apt-get download $(GPU_DEBS)
	@if [ -f ../shared/bench/ref_dit_train.py ]; then cp ../shared/bench/ref_dit_train.py .deps/; fi
	@du -sh .deps

test-gpu: gpu
	tools/gpu_session.sh test

# Harness vs the plain PyTorch program at the paper's l-DAE shape and DiT-B,
# bf16 on the GPU, with model FLOPs utilisation.
bench-gpu: gpu
	bench/run_bench_gpu.sh $(GPU_BUILD)

clean:
	rm -rf $(BUILD_DIR)
