"""A Hugging Face ``transformers`` TrainerCallback that reports the Trainer's stages, work and
evaluation metrics to greenknobs. Importing this module never imports transformers unless it is
installed; ``import greenknobs`` never imports this module.

    from greenknobs.hf import GreenknobsCallback
    trainer = Trainer(..., callbacks=[GreenknobsCallback()])

Stages: ``train`` (on_train_begin..on_train_end) with one nested ``epoch`` per epoch; work:
``samples`` per optimizer step (per-device batch x accumulation x processes); metrics: every
number the Trainer's evaluation logs (``eval_f1`` ...), last value wins.
"""
import re

from ._tracker import active_tracker, stage as _module_stage, metric as _module_metric

try:  # a real subclass when transformers is there, so the Trainer accepts it
    from transformers import TrainerCallback as _Base
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object

_BAD = re.compile(r"[^A-Za-z0-9_.:-]")


class GreenknobsCallback(_Base):
    """tracker: a greenknobs.Tracker (default: the innermost running one, else the greenknobs
    parent over the stage protocol, else nothing)."""

    def __init__(self, tracker=None, epochs_as_stages=True):
        self._tracker = tracker
        self._epochs = epochs_as_stages
        self._train = None
        self._epoch = None

    def _stage(self, name, work=None):
        if self._tracker is not None:
            return self._tracker.stage(name, work=work)
        return _module_stage(name, work=work)

    def on_train_begin(self, args, state, control, **kwargs):
        self._train = self._stage("train", work="samples").__enter__()

    def on_epoch_begin(self, args, state, control, **kwargs):
        if self._epochs and self._train is not None:
            self._epoch = self._stage("epoch", work="samples").__enter__()

    def on_step_end(self, args, state, control, **kwargs):
        samples = (getattr(args, "per_device_train_batch_size", 0)
                   * getattr(args, "gradient_accumulation_steps", 1)
                   * max(1, getattr(args, "world_size", 1)))
        target = self._epoch if self._epoch is not None else self._train
        if target is not None and samples > 0:
            target.add_work(samples)

    def on_epoch_end(self, args, state, control, **kwargs):
        if self._epoch is not None:
            self._epoch.end()
            self._epoch = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        for key, value in (metrics or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                name = _BAD.sub("_", str(key))[:128]
                if self._tracker is not None:
                    self._tracker.metric(name, value)
                else:
                    _module_metric(name, value)

    def on_train_end(self, args, state, control, **kwargs):
        self.on_epoch_end(args, state, control)
        if self._train is not None:
            self._train.end()
            self._train = None
