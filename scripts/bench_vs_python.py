#!/usr/bin/env python3
"""Side-by-side benchmark: greenknobs (build/bench/model/speed_compare: its Trainer and evaluate()) against a
PyTorch-Python loop of the same model (bench/python/train_loop.py on Debian's python3-torch), same threads,
shapes, batches and data, the two interleaved (the order alternates each repeat), medians of the repeats.
Prints a markdown table with the ratios greenknobs / Python (train real tokens/s, evaluate samples/s).

  scripts/bench_vs_python.py [--build build] [--repeats 3] [--threads N] [--cases cpu-small:128,base:512]
      [--precisions fp32,bf16] [--variants default,plain,unpad,aten-geglu,kernel-attention,libtorch-bf16] [--quick]

Both sides start with no OMP_WAIT_POLICY / GOMP_SPINCOUNT in the environment: Python as a user would run it
(libgomp's default), greenknobs with whatever policy it chooses itself (model/omp_env.h).
Only the standard library here; the Python side needs /usr/bin/python3 with torch.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {  # preset, seq -> batch, timed steps, eval batches
    ("cpu-small", 128): (16, 12, 8),
    ("base", 512): (4, 2, 2),
}
# default: as a user runs it (rows grouped by length in the eager attention, evaluation batches longest
# first); plain: the default before those two (HF's full [B, S, S] eager, evaluation in the data's order, as
# the Python loop does), so each run shows their before/after; unpad: the V12 kernel; aten-geglu: the
# default with LibTorch's chunk + gelu + mul instead of the fused GeGLU kernel (that change's before);
# kernel-attention: LibTorch's attention kernels (eager, banded, grouped) instead of the fused one.
# libtorch-bf16: bf16 products in LibTorch's own bf16 kernels, where the default takes the fp32 GEMM
# (model/bf16_matmul.h: on a CPU without AVX-512 LibTorch's are a scalar reference loop).
VARIANTS = {"default": [], "plain": ["--no-group-rows", "--eval-given-order"], "unpad": ["--unpad"],
            "aten-geglu": ["--geglu", "aten"], "kernel-attention": ["--attention-path", "kernels"],
            "libtorch-bf16": ["--bf16-matmul", "libtorch"]}


def run_json(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_vs_python: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def reference_bf16_cpu():
    """True where LibTorch 1.13 multiplies bf16 matrices in its scalar reference loop: an x86 CPU without
    AVX-512 BW/VL/DQ (greenknobs' machine.runtime.cpu_bf16_matmul = reference)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "avx2" in flags and not all(f in flags for f in ("avx512bw", "avx512vl", "avx512dq"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0 = the CPUs this process may use")
    ap.add_argument("--cases", default="cpu-small:128,base:512")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--variants", default="default,plain,unpad")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke run, not for docs)")
    ap.add_argument("--steps", type=int, default=0, help="timed train steps per run (0 = per-shape default)")
    ap.add_argument("--eval-batches", type=int, default=0, help="evaluation batches per run (0 = per-shape default)")
    ap.add_argument("--warmup-steps", type=int, default=-1,
                    help="untimed train steps before the timed ones, both sides (-1 = speed_compare's default)")
    ap.add_argument("--python-env", default="", help="extra VAR=value,... for the Python side only "
                    "(e.g. OMP_WAIT_POLICY=passive); default: none, as a user would run it")
    a = ap.parse_args()

    threads = a.threads or len(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GREENKNOBS_OMP_ENV", "OMP_NUM_THREADS")}
    py_env = dict(env)
    for kv in filter(None, a.python_env.split(",")):
        k, v = kv.split("=", 1)
        py_env[k] = v
    gk = os.path.join(a.build, "bench", "model", "speed_compare")
    py = [a.python, os.path.join(ROOT, "bench", "python", "train_loop.py")]
    variants = a.variants.split(",")
    print(f"# greenknobs vs PyTorch-Python, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, {threads} threads, load average {os.getloadavg()[0]:.1f}, "
          f"{a.repeats} interleaved repeats, medians; Python environment: {a.python_env or 'as a user runs it'}\n")
    print("| shape | precision | greenknobs | train tok/s gk | train tok/s py | **train ratio** | train CPU-s ratio "
          "| eval samples/s gk | eval samples/s py | **eval ratio** | eval CPU-s ratio | kernel (train / eval) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    tmp = tempfile.mkdtemp(prefix="gk-bench-")
    for case in a.cases.split(","):
        shape, seq = case.split(":")
        seq = int(seq)
        batch, steps, eval_batches = SHAPES.get((shape, seq), (8, 4, 4))
        if a.steps:
            steps = a.steps
        if a.eval_batches:
            eval_batches = a.eval_batches
        if a.quick:
            steps, eval_batches = max(1, steps // 4), max(1, eval_batches // 4)
        for precision in a.precisions.split(","):
            c_steps, c_eval, c_warm, c_repeats = steps, eval_batches, a.warmup_steps, a.repeats
            if (precision == "bf16" and shape == "base" and reference_bf16_cpu() and not a.steps
                    and not a.eval_batches):
                # The Python side's bf16 products run LibTorch's single-threaded reference loop here: one
                # base-shape step takes ~9 minutes, so the per-shape defaults would take hours. One timed step,
                # one evaluation batch, no warm-up, one repeat (docs/perf.md, "bf16 without the reference loop").
                c_steps, c_eval, c_warm, c_repeats = 1, 1, 0, 1
                print(f"<!-- {shape}:{seq} bf16 reduced to 1 step, 1 evaluation batch, no warm-up, 1 repeat: "
                      "this CPU's LibTorch multiplies bf16 in its reference loop -->", flush=True)
            base = [gk, "--shape", shape, "--seq", str(seq), "--batch", str(batch), "--precision", precision,
                    "--steps", str(c_steps), "--eval-batches", str(c_eval), "--threads", str(threads)]
            if c_warm >= 0:
                base += ["--warmup-steps", str(c_warm)]
            data = os.path.join(tmp, f"{shape}-{seq}.json")
            results = {v: [] for v in variants}
            results["python"] = []
            for r in range(c_repeats):
                order = variants + ["python"] if r % 2 == 0 else ["python"] + variants
                for who in order:
                    if who == "python":
                        results[who].append(run_json(py + [data, "--precision", precision, "--threads",
                                                           str(threads)], py_env))
                    else:
                        extra = ["--data-out", data] if r == 0 else []
                        results[who].append(run_json(base + VARIANTS[who] + extra, env))
                        print(f"<!-- {shape}:{seq} {precision} {who} r{r}: "
                              f"{json.dumps(results[who][-1])} -->", file=sys.stderr)
                print(f"<!-- {shape}:{seq} {precision} python r{r}: {json.dumps(results['python'][-1])} -->",
                      file=sys.stderr)

            def med(rows, key):
                return statistics.median(x[key] for x in rows)

            py_tok, py_eval = med(results["python"], "train_tokens_per_s"), med(results["python"], "eval_samples_per_s")
            py_cpu = med(results["python"], "train_cpu_s")
            py_eval_cpu = med(results["python"], "eval_cpu_s")
            for v in variants:
                rows = results[v]
                tok, ev = med(rows, "train_tokens_per_s"), med(rows, "eval_samples_per_s")
                print(f"| {shape} {batch}×{seq} | {precision} | {v} | {tok:,.0f} | {py_tok:,.0f} | **{tok / py_tok:.2f}×** "
                      f"| {py_cpu / med(rows, 'train_cpu_s'):.2f}× | {ev:,.1f} | {py_eval:,.1f} | **{ev / py_eval:.2f}×** "
                      f"| {py_eval_cpu / med(rows, 'eval_cpu_s'):.2f}× "
                      f"| {rows[-1].get('train_attention_kernel', '-')} / {rows[-1]['attention_kernel']} |", flush=True)


if __name__ == "__main__":
    main()
