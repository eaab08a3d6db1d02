"""The HF TrainerCallback without transformers: importing greenknobs never imports it, and the
Trainer's events become stages, work and metrics."""
import json
import os
import subprocess
import sys
import types
import unittest

import greenknobs

from gk_testutil import TempDir, fake_powercap


class TrainerCallback(unittest.TestCase):
    def test_import_needs_no_transformers(self):
        # A fresh interpreter where `transformers` cannot be imported at all.
        code = ("import sys; sys.modules['transformers'] = None\n"
                "import greenknobs\n"
                "assert 'greenknobs.hf' not in sys.modules\n"
                "from greenknobs.hf import GreenknobsCallback\n"
                "assert GreenknobsCallback.__mro__[1] is object\n")
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_events_become_stages_work_and_metrics(self):
        from greenknobs.hf import GreenknobsCallback
        with TempDir() as d:
            now = [0.0]
            t = greenknobs.Tracker(out=os.path.join(d, "out"), period_s=0, clock=lambda: now[0],
                                   powercap_root=fake_powercap(os.path.join(d, "pc")),
                                   nvml_library="none", proc_root=d, print_summary=False,
                                   relay=False)
            args = types.SimpleNamespace(per_device_train_batch_size=8,
                                         gradient_accumulation_steps=2, world_size=1)
            state = control = None
            cb = GreenknobsCallback(tracker=t)
            with t:
                cb.on_train_begin(args, state, control)
                for _epoch in range(2):
                    cb.on_epoch_begin(args, state, control)
                    for _step in range(3):
                        now[0] += 1
                        cb.on_step_end(args, state, control)
                    cb.on_evaluate(args, state, control,
                                   metrics={"eval_f1": 0.5 + _epoch / 10, "eval_loss": 1.0,
                                            "epoch": _epoch + 1, "note": "text"})
                    cb.on_epoch_end(args, state, control)
                cb.on_train_end(args, state, control)
            with open(os.path.join(d, "out", "run.json")) as f:
                run = json.load(f)
            paths = [s["path"] for s in run["energy"]["stages"]]
            self.assertEqual(paths, ["train", "train/epoch", "train/epoch"])
            self.assertEqual(run["energy"]["stages"][1]["work"], {"samples": 48})
            self.assertAlmostEqual(run["energy"]["stages"][0]["duration_s"], 6.0)
            self.assertEqual(run["metrics"], {"eval_f1": 0.6, "eval_loss": 1.0, "epoch": 2.0})


if __name__ == "__main__":
    unittest.main()
