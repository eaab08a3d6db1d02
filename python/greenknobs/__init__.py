"""greenknobs for Python: per-stage energy of your own training code, and the stage protocol that
lets ``greenknobs study`` compare your knobs.

    import greenknobs

    with greenknobs.Tracker(out="runs/x") as t:
        with t.stage("train", work="samples") as s:
            for batch in loader:
                ...
                s.add_work(len(batch))
        with t.stage("evaluate"):
            ...
        t.metric("f1", f1)

Outputs (on exit): runs/x/run.json (energy report + metrics), emissions.csv (CodeCarbon's
columns + ours), power.csv. Run under ``greenknobs measure`` or ``greenknobs study``, the same code
reports its stages and metrics to the parent, which measures them (docs/byo.md).
"""
from ._tracker import Stage, Tracker, active_tracker, metric, stage, track
from .protocol import ProtocolClient

__version__ = "0.1.0"
__all__ = ["Tracker", "Stage", "track", "stage", "metric", "active_tracker", "ProtocolClient"]
