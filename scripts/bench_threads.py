#!/usr/bin/env python3
"""OpenMP wait policy on a quiet and on a loaded machine (docs/perf/threads.md): one greenknobs train run
(build/bench/model/speed_compare) per configuration, the configurations interleaved (order rotated each
repeat), medians of wall tokens/s and of process CPU seconds; with --load, one busy process per CPU runs
beside them (a competing job on every core).

  scripts/bench_threads.py [--build build] [--repeats 3] [--load] [--precision fp32] [--steps 8]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

CONFIGS = {  # name -> environment (the marker stops speed_compare from choosing its own policy)
    "passive": {"OMP_WAIT_POLICY": "passive"},
    "spin 1k": {"GOMP_SPINCOUNT": "1000"},
    "spin 10k": {"GOMP_SPINCOUNT": "10000"},
    "greenknobs default": {},  # its own choice at start: passive when busy, else spin 10k
    "spin 100k": {"GOMP_SPINCOUNT": "100000"},
    "libgomp default (300k)": {"GREENKNOBS_OMP_ENV": "none"},
    "active": {"OMP_WAIT_POLICY": "active"},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--load", action="store_true")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    a = ap.parse_args()
    names = a.configs.split(",")
    threads = len(os.sched_getaffinity(0))
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GREENKNOBS_OMP_ENV", "OMP_NUM_THREADS")}
    cmd = [os.path.join(a.build, "bench", "model", "speed_compare"), "--mode", "train", "--shape", "cpu-small",
           "--seq", str(a.seq), "--batch", "16", "--steps", str(a.steps), "--warmup-steps", "1",
           "--precision", a.precision, "--threads", str(threads)]
    hogs = []
    if a.load:
        for _ in range(threads):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
    rows = {n: [] for n in names}
    try:
        for r in range(a.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                env = dict(base, **CONFIGS[n])
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
                if p.returncode != 0:
                    sys.exit(f"{n}: {p.stderr[-2000:]}")
                rows[n].append(json.loads(p.stdout.strip().splitlines()[-1]))
                rows[n][-1]["name"] = n
                print(f"<!-- r{r} {n}: {rows[n][-1]['train_tokens_per_s']:.0f} tok/s, "
                      f"{rows[n][-1]['train_cpu_s']:.1f} CPU-s -->", file=sys.stderr, flush=True)
    finally:
        for h in hogs:
            h.kill()
    med = {n: (statistics.median(x["train_tokens_per_s"] for x in rows[n]),
               statistics.median(x["train_cpu_s"] for x in rows[n]),
               statistics.median(x["train_wall_s"] for x in rows[n])) for n in names}
    best = max(v[0] for v in med.values())
    print(f"\n{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {'loaded (one busy process per CPU)' if a.load else 'no added load'}, "
          f"load average {os.getloadavg()[0]:.1f}, {threads} threads, cpu-small 16×{a.seq} {a.precision}, "
          f"{a.steps} steps × {a.repeats} interleaved repeats, medians\n")
    print("| policy | train tok/s (wall) | vs best | CPU-s per run | CPU-s / wall-s | chosen |")
    print("|---|---:|---:|---:|---:|---|")
    for n in names:
        tok, cpu, wall = med[n]
        chosen = ", ".join(sorted({x.get("omp_wait_policy") or ("spin " + x.get("gomp_spincount", ""))
                                   for x in rows[n]}))
        print(f"| {n} | {tok:,.0f} | {tok / best:.2f} | {cpu:.1f} | {cpu / wall:.2f} | {chosen} |")


if __name__ == "__main__":
    main()
