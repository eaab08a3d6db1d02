"""The stage protocol end to end through `greenknobs measure --out`: a Python script using the
Tracker (relayed to the parent), the C one-header helper, a shell script writing raw lines (bad
ones too) and an uninstrumented command (one stage)."""
import json
import os
import sys
import textwrap
import unittest

import greenknobs
from greenknobs import _greenknobs

from gk_testutil import CLI, PYTHON, TempDir, run_cli

DEMO = os.environ.get("GK_PROTOCOL_DEMO", "")


def load(path):
    with open(path) as f:
        return json.load(f)


def stages(run):
    return {s["path"]: s for s in run["energy"]["stages"]}


class LineParser(unittest.TestCase):
    def test_the_four_verbs_and_their_errors(self):
        p = _greenknobs.parse_protocol_line
        self.assertEqual(p("begin train"), ("begin", "train", 0.0))
        self.assertEqual(p("end train\r"), ("end", "train", 0.0))
        self.assertEqual(p("metric f1_vul 0.8125"), ("metric", "f1_vul", 0.8125))
        self.assertEqual(p("work samples 1e3"), ("work", "samples", 1000.0))
        for bad in ("", "start x", "begin", "begin a b", "begin a/b", "metric f1 nan",
                    "metric f1 0.5x", "work samples -1", "end " + "x" * 129):
            with self.assertRaises(ValueError, msg=bad):
                p(bad)


@unittest.skipUnless(CLI and os.path.exists(CLI), "the greenknobs CLI is not built")
class MeasureHonoursTheProtocol(unittest.TestCase):
    def test_a_python_tracker_relays_stages_work_and_metrics(self):
        with TempDir() as d:
            script = os.path.join(d, "child.py")
            with open(script, "w") as f:
                f.write(textwrap.dedent("""
                    import greenknobs, time
                    with greenknobs.Tracker(out="ignored-when-relayed") as t:
                        assert t.relayed
                        with t.stage("train", work="samples") as s:
                            s.add_work(32)
                            with t.stage("validate"):
                                time.sleep(0.05)
                            s.add_work(32)
                        with t.stage("evaluate"):
                            time.sleep(0.05)
                        t.metric("f1", 0.5)
                        t.metric("loss", 0.25)
                """))
            out = os.path.join(d, "run")
            env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}
            r = run_cli(["measure", "--period-ms", "20", "--out", out, "--", PYTHON, script],
                        env=env, cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "ignored-when-relayed")))
            run = load(os.path.join(out, "run.json"))
            self.assertEqual(run["status"], "complete")
            self.assertEqual(run["metrics"], {"f1": 0.5, "loss": 0.25})
            self.assertEqual(run["protocol"]["warnings"], [])
            st = stages(run)
            # The wrapper stage (the command) is gone: the child's stages are top level.
            self.assertEqual(sorted(st), ["evaluate", "train", "train/validate"])
            self.assertIsNone(st["train"]["parent"])
            self.assertEqual(st["train/validate"]["parent"], "train")
            self.assertEqual(st["train"]["work"], {"samples": 64})
            # Boundaries are the parent's timestamps, in the child's order.
            self.assertLessEqual(st["train"]["start_s"], st["train/validate"]["start_s"])
            self.assertLessEqual(st["train"]["start_s"] + st["train"]["duration_s"],
                                 st["evaluate"]["start_s"])
            for name in ("emissions.csv", "power.csv"):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)

    @unittest.skipUnless(DEMO, "the C protocol demo is not built")
    def test_the_c_header_helper(self):
        with TempDir() as d:
            out = os.path.join(d, "run")
            r = run_cli(["measure", "--out", out, "--", DEMO])
            self.assertEqual(r.returncode, 0, r.stderr)
            run = load(os.path.join(out, "run.json"))
            st = stages(run)
            self.assertEqual(sorted(st), ["prepare", "train", "train/validate"])
            self.assertEqual(st["prepare"]["work"], {"items": 3})
            self.assertEqual(st["train"]["work"], {"samples": 128})
            self.assertEqual(run["metrics"], {"accuracy": 0.75})
            self.assertEqual(run["protocol"]["stages_reported"], 3)

    def test_raw_lines_from_a_shell_and_bad_lines_become_warnings(self):
        with TempDir() as d:
            sh = os.path.join(d, "child.sh")
            with open(sh, "w") as f:
                f.write(textwrap.dedent("""\
                    #!/bin/sh
                    echo "begin prep" >&$GREENKNOBS_STAGE_FD
                    echo "work rows 10" >&$GREENKNOBS_STAGE_FD
                    echo "hello world" >&$GREENKNOBS_STAGE_FD
                    echo "end nothing" >&$GREENKNOBS_STAGE_FD
                    echo "begin inner" >&$GREENKNOBS_STAGE_FD
                    echo "end prep" >&$GREENKNOBS_STAGE_FD
                    echo "metric acc 0.5" >&$GREENKNOBS_STAGE_FD
                    echo "begin dangling" >&$GREENKNOBS_STAGE_FD
                    exit 3
                    """))
            os.chmod(sh, 0o755)
            out = os.path.join(d, "run")
            r = run_cli(["measure", "--out", out, "--", sh])
            self.assertEqual(r.returncode, 3, r.stderr)
            run = load(os.path.join(out, "run.json"))
            self.assertEqual(run["status"], "failed")
            self.assertEqual(run["error"], "the command exited 3")
            self.assertEqual(run["metrics"], {"acc": 0.5})
            st = stages(run)
            self.assertEqual(sorted(st), ["dangling", "prep", "prep/inner"])
            self.assertEqual(st["prep"]["work"], {"rows": 10})
            w = run["protocol"]["warnings"]
            self.assertEqual(len(w), 4, w)
            self.assertIn("unknown verb 'hello'", w[0])
            self.assertIn("end nothing ignored", w[1])
            self.assertIn("inner was never ended", w[2])
            self.assertIn("dangling was still open", w[3])

    def test_an_uninstrumented_command_is_one_stage(self):
        with TempDir() as d:
            out = os.path.join(d, "run")
            r = run_cli(["measure", "--out", out, "--", "sleep", "0.1"])
            self.assertEqual(r.returncode, 0, r.stderr)
            run = load(os.path.join(out, "run.json"))
            self.assertEqual([s["path"] for s in run["energy"]["stages"]], ["sleep"])
            self.assertEqual(run["metrics"], {})
            self.assertEqual(run["command"]["argv"], ["sleep", "0.1"])

    def test_a_spec_gives_argv_cwd_and_env(self):
        with TempDir() as d:
            spec = os.path.join(d, "spec.json")
            with open(spec, "w") as f:
                json.dump({"argv": ["sh", "-c", 'echo "metric depth $DEPTH" >&$GREENKNOBS_STAGE_FD;'
                                    ' test "$(pwd)" = "%s"' % d],
                           "cwd": d, "env": {"DEPTH": "4"}, "name": "V1"}, f)
            out = os.path.join(d, "run")
            r = run_cli(["measure", "--spec", spec, "--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            run = load(os.path.join(out, "run.json"))
            self.assertEqual(run["metrics"], {"depth": 4.0})
            self.assertEqual(run["name"], "V1")
            self.assertEqual(len(run["config_hash"]), 64)
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                json.dump({"argv": []}, f)
            r = run_cli(["measure", "--spec", bad])
            self.assertEqual(r.returncode, 2)
            self.assertIn("bad.json:argv", r.stderr)


class ClientWithoutParent(unittest.TestCase):
    def test_no_parent_means_no_client(self):
        saved = os.environ.pop("GREENKNOBS_STAGE_FD", None)
        try:
            self.assertIsNone(greenknobs.ProtocolClient.from_env())
            with self.assertRaises(RuntimeError):
                greenknobs.Tracker(relay=True)
        finally:
            if saved is not None:
                os.environ["GREENKNOBS_STAGE_FD"] = saved

    def test_client_writes_lines_and_waits_for_acks(self):
        r, w = os.pipe()
        ar, aw = os.pipe()
        os.write(aw, b"kk")
        c = greenknobs.ProtocolClient(w, ar)
        c.begin("a")
        c.work("rows", 5)
        c.metric("m", 0.5)
        c.end("a")
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        self.assertEqual(data.decode().splitlines(),
                         ["begin a", "work rows 5.0", "metric m 0.5", "end a"])
        for fd in (r, ar, aw):
            os.close(fd)


if __name__ == "__main__":
    unittest.main()
