"""The examples run: the plain PyTorch loop measured by the Python API, and the Juliet PyTorch
script studied end to end by `greenknobs study` at CI scale (examples/juliet_torch/tiny.toml):
variants x 2 repeats, each run's stages and metrics from the script, the HTML report."""
import json
import os
import subprocess
import unittest

from gk_testutil import CLI, PYTHON, SOURCE_DIR, TempDir, run_cli


def has_torch():
    return subprocess.run([PYTHON, "-c", "import torch"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


@unittest.skipUnless(has_torch(), "Debian's python3-torch is not installed (make deps)")
class Examples(unittest.TestCase):
    def test_plain_pytorch_loop(self):
        with TempDir() as d:
            out = os.path.join(d, "loop")
            subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "python/examples/pytorch_loop.py"),
                            "--out", out, "--steps", "5"], check=True, timeout=600)
            with open(os.path.join(out, "run.json")) as f:
                run = json.load(f)
            self.assertEqual(run["status"], "complete")
            paths = [s["path"] for s in run["energy"]["stages"]]
            self.assertEqual(paths, ["setup", "train", "evaluate", "evaluate/step"])
            self.assertEqual(run["energy"]["stages"][1]["work"], {"samples": 160})
            self.assertEqual(sorted(run["metrics"]), ["final_train_loss", "mse"])

    @unittest.skipUnless(CLI and os.path.exists(CLI), "the greenknobs CLI is not built")
    def test_juliet_torch_study_at_ci_scale(self):
        with TempDir() as d:
            out = os.path.join(d, "study")
            r = run_cli(["study", "--catalog", "examples/juliet_torch/tiny.toml",
                         "--variants", "V0,V1,V2,V3,V4,V6", "--repeats", "2", "--out", out],
                        cwd=SOURCE_DIR)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("12 complete, 0 failed, 0 skipped of 12 runs", r.stdout + r.stderr)
            self.assertTrue(os.path.exists(os.path.join(out, "report", "report.html")))
            with open(os.path.join(out, "runs", "V6-r1", "run.json")) as f:
                run = json.load(f)
            self.assertIn("--bf16", run["command"]["argv"])
            self.assertEqual(run["command"]["argv"][-2:], ["--seed", "43"])
            paths = [s["path"] for s in run["energy"]["stages"]]
            self.assertEqual(paths[:3], ["load_dataset", "tokenize", "train"])
            self.assertIn("train/validate", paths)
            self.assertEqual(paths[-1], "evaluate")
            for m in ("f1_vul", "accuracy", "mcc", "f1_weighted"):
                self.assertIn(m, run["metrics"])
            with open(os.path.join(out, "report", "table1.md")) as f:
                table = f.read()
            for v in ("V0", "V1", "V2", "V3", "V4", "V6"):
                self.assertIn("| " + v + " ", table)


if __name__ == "__main__":
    unittest.main()
