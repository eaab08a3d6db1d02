"""Shared helpers for the Python tests: a fake powercap tree and where the built pieces are."""
import os
import shutil
import subprocess
import tempfile

CLI = os.environ.get("GK_CLI", "")
SOURCE_DIR = os.environ.get("GK_SOURCE_DIR", os.path.abspath(os.path.join(__file__, "../../..")))
PYTHON = os.environ.get("GK_PYTHON", "/usr/bin/python3")


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="gk_py_test_")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def zone(root, zone_id, name, energy_uj, max_uj=262143328850):
    d = os.path.join(root, zone_id)
    os.makedirs(d, exist_ok=True)
    for fname, text in (("name", name), ("energy_uj", str(energy_uj)),
                        ("max_energy_range_uj", str(max_uj))):
        with open(os.path.join(d, fname), "w") as f:
            f.write(text + "\n")


def fake_powercap(root):
    """package-0 and its dram: counters for cpu and ram, so nothing is modelled."""
    zone(root, "intel-rapl:0", "package-0", 1000000)
    zone(root, "intel-rapl:0:0", "dram", 200000)
    return root


def run_cli(args, env=None, cwd=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([CLI] + args, env=full_env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600)
