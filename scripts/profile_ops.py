#!/usr/bin/env python3
"""Sums a LibTorch chrome trace (speed_compare --profile FILE) by operator: calls, total time
(inclusive) and self time (minus the operators nested in it on the same thread), largest self
time first. Usage: scripts/profile_ops.py TRACE [--top N]."""
import argparse
import json
import sys
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    try:
        with open(a.trace) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"profile_ops: {a.trace}: {e}", file=sys.stderr)
        sys.exit(2)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    spans = [e for e in events if e.get("ph") == "X" and "dur" in e]
    by_tid = defaultdict(list)
    for e in spans:
        by_tid[e.get("tid")].append(e)
    total = defaultdict(float)
    self_t = defaultdict(float)
    calls = defaultdict(int)
    for evs in by_tid.values():
        # Outer spans first; self time = own duration minus the direct children's.
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, children's time, own duration]

        def close(frame):
            self_t[frame[1]] += frame[3] - frame[2]

        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            if stack:
                stack[-1][2] += dur
            stack.append([ts + dur, e["name"], 0.0, dur])
            total[e["name"]] += dur
            calls[e["name"]] += 1
        while stack:
            close(stack.pop())
    top_level = sum(self_t.values())
    print(f"{'operator':<44} {'calls':>7} {'self ms':>10} {'self %':>7} {'total ms':>10}")
    for name in sorted(self_t, key=lambda n: -self_t[n])[: a.top]:
        print(f"{name[:44]:<44} {calls[name]:>7} {self_t[name] / 1e3:>10.1f} "
              f"{100 * self_t[name] / top_level:>6.1f}% {total[name] / 1e3:>10.1f}")
    print(f"{'(all operators, self)':<44} {'':>7} {top_level / 1e3:>10.1f}")


if __name__ == "__main__":
    main()
