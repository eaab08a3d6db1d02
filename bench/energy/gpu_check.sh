#!/usr/bin/env bash
# GPU check of the energy library on a real NVIDIA machine (read-only: power limits are queried, never set).
# NVML sources, the counter-based energy of an idle interval and, when PyTorch with CUDA is there, of a GPU
# load; nvidia-smi's power readings alongside for a cross-check. Usage: gpu_check.sh GREENKNOBS_BIN OUT_DIR
set -u
BIN=${1:?greenknobs binary}
OUT=${2:?output directory}
mkdir -p "$OUT"
{
    uname -a; ldd --version 2>&1 | head -1; id
    nvidia-smi -L
    nvidia-smi --query-gpu=name,driver_version,power.limit,power.min_limit,power.max_limit --format=csv
} > "$OUT/machine.txt" 2>&1
ldd "$BIN" > "$OUT/ldd.txt" 2>&1
"$BIN" sources > "$OUT/sources.txt" 2>&1; echo "rc=$?" >> "$OUT/sources.txt"
"$BIN" sources --json > "$OUT/sources.json" 2>&1
# Visible-device sets (docs/measurement.md): by index, by UUID, and none; each GPU's used/not-used line.
UUID=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
for v in 0 "$UUID" "" ; do
    echo "== CUDA_VISIBLE_DEVICES='$v'"
    CUDA_VISIBLE_DEVICES="$v" "$BIN" sources 2>&1 | grep -E "nvml|power limits"
done > "$OUT/visible.txt" 2>&1

smi() {  # nvidia-smi power readings every 100 ms into $1, until killed
    nvidia-smi --query-gpu=index,timestamp,power.draw --format=csv,noheader,nounits -lms 100 > "$1" 2>&1 &
    SMI=$!
}

smi "$OUT/smi_idle.csv"
"$BIN" measure --json "$OUT/idle.json" --power-csv "$OUT/idle_power.csv" -- sleep 3 > "$OUT/idle_summary.txt" 2>&1
echo "rc=$?" >> "$OUT/idle_summary.txt"
kill "$SMI" 2>/dev/null

if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" > "$OUT/torch.txt" 2>&1; then
    cat > "$OUT/load.py" <<'PY'
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn_like(a)
torch.cuda.synchronize()
end = time.time() + 4
n = 0
while time.time() < end:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
    n += 10
print("matmuls", n)
PY
    smi "$OUT/smi_load.csv"
    "$BIN" measure --json "$OUT/load.json" --power-csv "$OUT/load_power.csv" -- python3 "$OUT/load.py" \
        > "$OUT/load_summary.txt" 2>&1
    echo "rc=$?" >> "$OUT/load_summary.txt"
    kill "$SMI" 2>/dev/null
else
    echo "no PyTorch with CUDA: GPU load skipped" >> "$OUT/torch.txt"
fi
"$BIN" measure -- /nonexistent/cmd > "$OUT/exit2.txt" 2>&1; echo "rc=$?" >> "$OUT/exit2.txt"
echo done > "$OUT/done.txt"
