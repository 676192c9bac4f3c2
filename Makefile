# l-DAE ablation harness: the two commands a researcher needs are `make run`
# and `make test`; everything they depend on is installed by `make deps`.
SHELL       := /bin/bash
BUILD_DIR   ?= build
JOBS        ?= $(shell nproc)
RESULTS     ?= results
PROFILE     ?= tiny
SWEEP       ?= experiments/quickstart.toml

# Every Debian package that building, testing, running and benchmarking need.
DEB_PACKAGES := build-essential cmake ccache pkg-config \
  libtorch-dev libopenblas0-openmp libeigen3-dev libhdf5-dev libfmt-dev \
  libboost-program-options-dev libsqlitecpp-dev libsqlite3-dev sqlite3 \
  libgtest-dev libtomlplusplus-dev nlohmann-json3-dev zlib1g-dev \
  libjpeg62-turbo-dev libpng-dev libgloo-dev gnuplot-nox fonts-dejavu-core dataset-fashion-mnist
BENCH_PACKAGES := python3-torch

.PHONY: deps deps-bench configure build test run bench clean tables

# Idempotent and fast when all is present: dpkg is asked first, apt-get only
# runs (update once, then install) for what is missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: all packages present"; fi

deps-bench: deps
	@dpkg-query -W -f='$${Status}\n' $(BENCH_PACKAGES) 2>/dev/null | grep -q '^install ok installed' || { \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES); }

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

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

bench: deps-bench
	$(MAKE) build
	bench/run_bench.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
