#!/usr/bin/env bash
# Per-knob benchmark (issue #4): every catalog variant once against V0 at a reduced scale, through the real
# study runner, so train/evaluate time and modelled energy per knob sit next to the paper's reported deltas.
# Usage: bench/knobs/run_knob_bench.sh [build dir] [out dir] [repeats]
# The Table I it writes (out/report/table1.md) is what docs/knobs.md's "Measured" section quotes.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-runs/knob-bench}
REPEATS=${3:-1}
"$BUILD/bin/greenknobs" study --catalog variants/paper.toml --repeats "$REPEATS" --out "$OUT" \
    --set data.max_train_samples=600 --set data.max_eval_samples=300
echo "Table I: $OUT/report/table1.md"
