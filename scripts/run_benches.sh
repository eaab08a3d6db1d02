#!/usr/bin/env bash
# make bench: every Google Benchmark binary under <build>/bench, then the end-to-end timing scripts.
set -euo pipefail
BUILD=${1:-build}
for b in $(find "$BUILD/bench" -type f -executable -name '*_bench' | sort); do
    echo "== $b"
    "$b" --benchmark_min_time=0.2
done
# The side-by-side comparison with a PyTorch-Python loop (needs python3-torch: make bench-deps).
"$(dirname "$0")/bench_vs_python.py" --build "$BUILD"
