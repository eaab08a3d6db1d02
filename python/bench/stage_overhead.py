#!/usr/bin/env python3
"""Overhead of a stage pair (begin + end) from Python, in µs: local tracker (this machine's
sources, and a fake powercap tree whose counters are files like RAPL's) and relayed over the stage
protocol to a reader thread that acknowledges like `greenknobs measure`. docs/perf/python.md.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/stage_overhead.py [N]
"""
import os
import sys
import tempfile
import threading
import time

import greenknobs


def timed(label, fn, n):
    fn(n // 10)  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    fn(n)
    w1, c1 = time.perf_counter(), time.process_time()
    print("%-48s %8.2f µs wall  %8.2f µs CPU per stage pair" % (label, (w1 - w0) / n * 1e6,
                                                                   (c1 - c0) / n * 1e6))


def local_pairs(tracker):
    def run(n):
        for _ in range(n):
            with tracker.stage("s"):
                pass
    return run


def decorated_pairs(tracker):
    @tracker.stage("f")
    def f():
        return None

    def run(n):
        for _ in range(n):
            f()
    return run


def fake_powercap(root):
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram")):
        os.makedirs(os.path.join(root, zone))
        for fname, text in (("name", name), ("energy_uj", "1000000"),
                            ("max_energy_range_uj", "262143328850")):
            with open(os.path.join(root, zone, fname), "w") as f:
                f.write(text + "\n")
    return root


def relayed(n_total):
    r, w = os.pipe()
    ar, aw = os.pipe()

    def parent():  # what measure does: read lines, acknowledge each boundary
        buf = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                return
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            acks = sum(1 for line in lines if line.startswith((b"begin ", b"end ")))
            if acks:
                os.write(aw, b"k" * acks)

    th = threading.Thread(target=parent, daemon=True)
    th.start()
    os.environ["GREENKNOBS_STAGE_FD"] = str(w)
    os.environ["GREENKNOBS_STAGE_ACK_FD"] = str(ar)
    t = greenknobs.Tracker().start()
    assert t.relayed
    timed("relayed (protocol + ack, Python parent thread)", local_pairs(t), n_total)
    t.stop()
    del os.environ["GREENKNOBS_STAGE_FD"], os.environ["GREENKNOBS_STAGE_ACK_FD"]
    os.close(w)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print("python %s, %d pairs each, load average %.1f" % (sys.version.split()[0], n,
                                                           os.getloadavg()[0]))
    with greenknobs.Tracker(print_summary=False, relay=False) as t:
        print(t.sources().rstrip())
        timed("local, this machine's sources (with-block)", local_pairs(t), n)
        timed("local, this machine's sources (decorator)", decorated_pairs(t), n)
    with tempfile.TemporaryDirectory() as d:
        with greenknobs.Tracker(print_summary=False, relay=False,
                                powercap_root=fake_powercap(d), nvml_library="none") as t:
            timed("local, 2 file counters (fake RAPL tree)", local_pairs(t), n)
    relayed(n)


if __name__ == "__main__":
    main()
