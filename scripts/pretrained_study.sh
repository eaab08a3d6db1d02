#!/usr/bin/env bash
# The pretrained-encoder study (docs/pretraining.md, "What the pretrained encoder is worth"): the same eight
# variants (from scratch vs pretrained full fine-tuning, LoRA, QLoRA, pruning 4/12 layers top/bottom) on
# Juliet and on BigVul (vulnerable vs fixed), REPEATS paired repeats each. Resumable: run it again to continue.
#   scripts/pretrained_study.sh [BUILD=build] [REPEATS=3] [OUT=runs]
set -euo pipefail
BUILD=${1:-build}
REPEATS=${2:-3}
OUT=${3:-runs}
GK="$BUILD/bin/greenknobs"
for data in juliet bigvul; do
  echo "== pretrained-encoder study on $data: variants/pretrained-$data.toml x $REPEATS repeats"
  "$GK" study --catalog "variants/pretrained-$data.toml" --repeats "$REPEATS" --out "$OUT/pretrained-$data"
done
