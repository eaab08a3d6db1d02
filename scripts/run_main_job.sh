#!/usr/bin/env bash
# make run: (1) train the default CPU preset on the bundled Juliet data with every stage metered and print the
# per-stage energy table and the test metrics; (2) a quick study (the knobs this machine can resolve and one
# combination, 3 paired repeats, interleaved; about 15 minutes on 2 cores) whose HTML report path and
# Table I excerpt are printed at the end.
set -euo pipefail
BUILD=${1:-build}
GK="$BUILD/bin/greenknobs"
OUT=${GK_RUN_OUT:-runs}
mkdir -p "$OUT"

echo "== greenknobs sources"
"$GK" sources

echo
echo "== 1/2 training the default preset (cpu-small, 22 layers) on data/juliet — every stage metered"
"$GK" train --out "$OUT/main-$(date -u +%Y%m%dT%H%M%SZ)"

echo
echo "== 2/2 quick study: variants/quick.toml × 3 paired repeats (resumable: rerun to continue)"
# Budget 2 F1 points: the quick study resolves paired F1 differences to about ±2 points (3 repeats, 1,500 test
# functions), so a tighter budget could only admit knobs that leave training alone; the report's ladder shows
# what 0.5-5 points would choose (docs/knobs.md, "The quick study").
"$GK" study --catalog variants/quick.toml --repeats 3 --budget-points 2 --out "$OUT/quick-study"
