#!/usr/bin/env bash
# make run: (1) train the default CPU preset on the bundled Juliet data with every stage metered and print the
# per-stage energy table and the test metrics; (2) a quick study (a handful of variants covering each phase,
# 2 repeats, interleaved) whose HTML report path and Table I excerpt are printed at the end.
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
echo "== 2/2 quick study: variants/quick.toml × 2 repeats (resumable: rerun to continue)"
"$GK" study --catalog variants/quick.toml --repeats 2 --out "$OUT/quick-study"
