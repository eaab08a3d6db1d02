#!/usr/bin/env bash
# Runs every libFuzzer target of a -DGK_FUZZ=ON build for a bounded time: first over its seed corpus
# (fuzz/corpus/<target>/, read only), then mutating. New interesting inputs go to
# <build>/fuzz-corpus/<target>/; a crash, sanitizer report, leak, timeout or broken contract stops the
# target, leaves the input in <build>/fuzz-findings/ and makes this script fail. Turn each finding
# into a regression input (copy it into fuzz/corpus/<target>/) and a test.
# Usage: scripts/run_fuzz.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]
set -uo pipefail
build=${1:?build dir}
seconds=${2:?seconds per target}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(csv jsonl tokenizer config safetensors run_config catalog)
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/fuzz-findings"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  # Inputs up to 64 KiB (tokenizer seeds are ~10 KiB; larger ones only slow the search down).
  log="$build/fuzz-findings/$t.log"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-findings/$t-" \
      "$corpus" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds}s)"
  else
    echo "fuzz $t: FAILED (log: $log)"
    tail -n 30 "$log"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz findings in: ${failed[*]} (inputs in $build/fuzz-findings/)"
  exit 1
fi
