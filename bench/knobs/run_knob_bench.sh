#!/usr/bin/env bash
# The catalog re-measured (issue #9 item 7): every paper variant against V0 with paired repeats, from the shipped
# pretrained encoder, at a reduced scale, through the real study runner, so each knob's energy, time and F1
# effect comes with its interval. docs/knobs.md ("Measured") quotes the Table I this writes; its figures and
# tables are committed under docs/studies/catalog/.
# Usage: bench/knobs/run_knob_bench.sh [build dir] [out dir] [repeats]   (resumable: run it again to continue)
# GK=/path/to/greenknobs runs another binary (e.g. a copy, so a rebuild cannot change it mid-study).
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-runs/knob-bench}
REPEATS=${3:-3}
GK=${GK:-$BUILD/bin/greenknobs}
"$GK" study --catalog variants/paper.toml --repeats "$REPEATS" --out "$OUT" \
    --set model.init=pretrained --set energy.scope=process \
    --set data.max_train_samples=600 --set data.max_eval_samples=300
echo "Table I: $OUT/report/table1.md"
