#!/usr/bin/env bash
# make run: train the default CPU preset on the bundled Juliet data, then a quick study with its report.
set -euo pipefail
BUILD=${1:-build}
echo "the main job is not wired yet" >&2
exit 1
