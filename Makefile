# greenknobs — set-up, build, test, run. Every target installs what is missing first (idempotent).
# Build: clang++ + lld + ccache, one precompiled torch header (see docs/decisions/0001-build-and-modules.md).

BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CXX_COMPILER ?= clang++
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_DIR ?= $(HOME)/.cache/ccache
# Test binaries link LibTorch without the CLI's OpenMP policy (model/omp_env.h): on a shared machine their
# idle OpenMP threads must sleep, not spin (docs/perf/threads.md). `make run` and `make bench` leave the
# choice to greenknobs itself.
test asan tsan: export OMP_WAIT_POLICY ?= passive
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime

# Debian packages the project needs (Debian 12). libopenblas0-openmp replaces the 16x slower reference BLAS.
APT_PACKAGES := cmake make clang clang-format lld ccache pkg-config libtorch-dev libopenblas0-openmp nlohmann-json3-dev \
  libcli11-dev libtomlplusplus-dev libutf8proc-dev libsqlite3-dev libpq-dev libssl-dev libgtest-dev libbenchmark-dev \
  gnuplot-nox libarchive-dev libclang-rt-14-dev pybind11-dev python3-dev python3-torch
# `make bench-python` (the PyTorch-Python side of the comparison); python3-torch is in APT_PACKAGES too, for
# the PyTorch example `make test` studies (docs/byo.md).
BENCH_APT_PACKAGES := python3-torch
# `make test`'s local cluster (scripts/dev-cluster.sh, docs/cluster.md): a PostgreSQL server and a
# single-node Slurm whose study test runs through both.
CLUSTER_APT_PACKAGES := postgresql slurmctld slurmd slurm-client munge
# Only for `make corpus`: the Debian source packages whose upstream tarballs (under /usr/src) make the
# pretraining corpus (docs/corpus.md). Large (~260 MB of tarballs), so not part of `deps`.
CORPUS_APT_PACKAGES := linux-source-6.1 glibc-source binutils-source gcc-12-source
CORPUS_OUT ?= out/corpus
CORPUS_ARGS ?=

.PHONY: all deps bench-deps corpus-deps cluster-deps configure build test run quick bench bench-python corpus asan \
  tsan fuzz fuzz-build fuzz-ci clean format format-check python-install byo-example byo-tune

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(CXX_COMPILER) \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The README's test command: everything CI checks, the seed corpora included (ctest), then a short
# fuzz pass of every parser under ASan+UBSan. The local cluster runs for the duration of ctest; if it
# cannot start, its tests skip and say why.
test: build cluster-deps
	@./scripts/dev-cluster.sh start >/dev/null || echo "make test: the local cluster did not start; its tests will skip"
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900; rc=$$?; \
	  cd $(CURDIR) && ./scripts/dev-cluster.sh stop; exit $$rc
	$(MAKE) fuzz-ci

cluster-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(CLUSTER_APT_PACKAGES)"

# libFuzzer targets, one per parser (fuzz/, docs/input-rules.md): a torch-free ASan+UBSan build.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 120
FUZZ_CI_SECONDS ?= 15
fuzz-build: deps
	@[ -f $(FUZZ_BUILD)/CMakeCache.txt ] || cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DGK_WITH_TORCH=OFF -DGK_BUILD_TESTS=OFF -DGK_BUILD_BENCH=OFF -DGK_FUZZ=ON \
	  -DGK_SANITIZE=address,undefined
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target gk_fuzz_all

# make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="csv jsonl"]: a longer search than CI's.
fuzz: fuzz-build
	./scripts/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: fuzz-build
	./scripts/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_CI_SECONDS)

# The README's main job: train the default CPU preset on the bundled Juliet data, then a quick study.
run: build
	./scripts/run_main_job.sh $(BUILD)

# The Python module (docs/byo.md) into a Python environment: Debian's python3 by default, or a venv made
# from it: make python-install PYTHON=.venv/bin/python
PYTHON ?= /usr/bin/python3
python-install: build
	@dest=$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])') && \
	  mkdir -p "$$dest" && rm -rf "$$dest/greenknobs" && cp -r $(BUILD)/python/greenknobs "$$dest/" && \
	  cd / && $(PYTHON) -c 'import greenknobs, greenknobs._greenknobs as m; print("greenknobs", greenknobs.__version__, "->", greenknobs.__path__[0])'

# docs/byo.md's example at a useful size: the Juliet PyTorch script, 7 variants x 3 repeats (~1-2 h on 2 cores).
byo-example: build
	PYTHONPATH=$(CURDIR)/$(BUILD)/python $(BUILD)/bin/greenknobs study \
	  --catalog examples/juliet_torch/study.toml --repeats 3 --out runs/juliet-torch

# docs/byo.md §5: the same script's knobs searched by `greenknobs tune` (screening at 0.3, verified with 3 repeats).
byo-tune: build
	PYTHONPATH=$(CURDIR)/$(BUILD)/python $(BUILD)/bin/greenknobs tune \
	  --catalog examples/juliet_torch/study.toml --budget f1_drop=1.0 --fidelities 0.3 --max-runs 30 \
	  --out runs/tune-torch

bench: build bench-deps
	./scripts/run_benches.sh $(BUILD)

# greenknobs vs a PyTorch-Python loop of the same model, interleaved, medians (docs/perf.md).
# BENCH_ARGS e.g. "--repeats 5 --cases cpu-small:128 --precisions bf16".
bench-python: build bench-deps
	./scripts/bench_vs_python.py --build $(BUILD) $(BENCH_ARGS)

bench-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(BENCH_APT_PACKAGES)"

# The default pretraining corpus: Linux 6.1, glibc 2.36, binutils 2.40 and GCC 12 from their Debian
# source packages, function-level, decontaminated against all bundled fine-tuning data.
corpus: build corpus-deps
	mkdir -p $(CORPUS_OUT)
	$(BUILD)/bin/greenknobs corpus --debian \
	  --decontaminate data/juliet/juliet_functions.csv data/bigvul/bigvul_subset.csv \
	  --out $(CORPUS_OUT)/corpus.jsonl $(CORPUS_ARGS)

corpus-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(CORPUS_APT_PACKAGES)"

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DGK_SANITIZE=address,undefined -DGK_WITH_TORCH=OFF -DGK_BUILD_BENCH=OFF"

tsan:
	$(MAKE) build BUILD=build-tsan CMAKE_FLAGS="-DGK_SANITIZE=thread -DGK_WITH_TORCH=OFF -DGK_BUILD_BENCH=OFF"
	cd build-tsan && ctest --output-on-failure -L energy

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

# The repo's .clang-format over every tracked C++ file: `make format` rewrites, `make format-check`
# (also a ctest test, so `make test` fails on a difference) only reports.
FORMAT_FILES = $$(git ls-files '*.h' '*.cpp')
format: deps
	clang-format -i $(FORMAT_FILES)

format-check: deps
	clang-format --dry-run -Werror $(FORMAT_FILES)
