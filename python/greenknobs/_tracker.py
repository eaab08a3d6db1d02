"""Tracker, stages and metrics over the C++ tracker (_greenknobs), or relayed to a greenknobs
parent over the stage protocol when this process runs under ``greenknobs measure``/``study``."""
import datetime
import functools
import json
import math
import os
import platform
import sys
import threading

from . import _greenknobs
from .protocol import ProtocolClient, check_name

_active = []  # trackers inside start()..stop(), innermost last
_lock = threading.Lock()


def active_tracker():
    """The innermost running Tracker, or None."""
    with _lock:
        return _active[-1] if _active else None


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic(path, text):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Stage:
    """One open stage: ``add_work(n)`` counts work units (samples, tokens, batches...)."""

    def __init__(self, tracker, name, work):
        self._tracker = tracker
        self.name = name
        self.unit = work
        self._handle = None
        self._open = False

    def add_work(self, amount, unit=None):
        unit = unit or self.unit
        if unit is None:
            raise ValueError("stage %s: add_work() needs a unit (stage(..., work='samples'))"
                             % self.name)
        if not self._open:
            raise RuntimeError("stage %s is not open" % self.name)
        self._tracker._add_work(self, check_name(unit, "work unit"), float(amount))

    def __enter__(self):
        if self._open or self._handle is not None:
            raise RuntimeError("stage %s was already entered; call tracker.stage() again"
                               % self.name)
        self._tracker._begin(self)
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb):
        self.end()
        return False

    def end(self):
        if self._open:
            self._open = False
            self._tracker._end(self)


class _StageFactory:
    """What ``tracker.stage(name)`` returns: a context manager (one stage) and a decorator (a new
    stage around every call)."""

    def __init__(self, tracker_getter, name, work):
        self._get = tracker_getter
        self.name = check_name(name, "stage name")
        self.work = None if work is None else check_name(work, "work unit")
        self._current = None

    def __enter__(self):
        tracker = self._get()
        self._current = Stage(tracker, self.name, self.work) if tracker else _NullStage(self.name)
        return self._current.__enter__()

    def __exit__(self, exc_type, exc, tb):
        current, self._current = self._current, None
        return current.__exit__(exc_type, exc, tb)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            tracker = self._get()
            scope = Stage(tracker, self.name, self.work) if tracker else _NullStage(self.name)
            with scope:
                return fn(*args, **kwargs)

        return wrapper


class _NullStage:
    """A stage with nothing to report to (no tracker, no greenknobs parent): does nothing."""

    def __init__(self, name):
        self.name = name

    def add_work(self, amount, unit=None):
        pass

    def end(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False


class Tracker:
    """Measures the stages of this process's work: a context manager (``with Tracker(...) as t``)
    or ``start()``/``stop()``.

    out: directory for run.json, emissions.csv and power.csv (None: nothing written; read
        ``report`` after stop()).
    relay: None = automatic (relay to a greenknobs parent when GREENKNOBS_STAGE_FD is set, else
        measure here); True = relay (error without a parent); False = always measure here.
    period_s: sampling period of the power sources (0: no thread, call sample_now(); tests).
    idle_s: measure idle power this long at start() (splits static/dynamic energy).
    country / carbon_g_per_kwh / pue: carbon intensity (ISO alpha-3; override; facility PUE).
    tdp_w: CPU TDP for the CPU model (0: table). pid: 0 = whole machine, else that process tree.
    powercap_root / nvml_library / proc_root: where the sources are read (tests pass fakes).
    clock / sleep / run_id / started_at_unix_s: determinism for tests (clock needs period_s <= 0).
    """

    def __init__(self, out=None, *, project_name="greenknobs", relay=None, period_s=0.1,
                 idle_s=0.0, country="", carbon_g_per_kwh=0.0, pue=1.0, tdp_w=0.0, pid=0,
                 powercap_root="/sys/class/powercap", nvml_library="libnvidia-ml.so.1",
                 proc_root="/proc", clock=None, sleep=None, run_id=None,
                 started_at_unix_s=None, print_summary=True):
        self.out = out
        self.project_name = project_name
        self.print_summary = print_summary
        self.metrics = {}
        self.report = None  # the energy report (dict) after stop(), when measured here
        self.status = None
        self.error = None
        self._client = None
        self._native = None
        self._stack = []
        self._started_at = None
        client = ProtocolClient.from_env() if relay is not False else None
        if relay is True and client is None:
            raise RuntimeError("relay=True but no greenknobs parent (GREENKNOBS_STAGE_FD unset)")
        if client is not None:
            self._client = client
            return
        o = _greenknobs.TrackerOptions()
        o.sample_period_s = float(period_s)
        o.idle_baseline_s = float(idle_s)
        o.country_iso_code = country
        o.carbon_g_per_kwh = float(carbon_g_per_kwh)
        o.pue = float(pue)
        o.cpu_tdp_w = float(tdp_w)
        o.pid = int(pid)
        o.powercap_root = powercap_root
        o.nvml_library = nvml_library
        o.proc_root = proc_root
        o.project_name = project_name
        if run_id is not None:
            o.run_id = run_id
        if started_at_unix_s is not None:
            o.started_at_unix_s = float(started_at_unix_s)
        if clock is not None:
            o.clock = clock
        if sleep is not None:
            o.sleep = sleep
        self._native = _greenknobs.Tracker(o)

    @property
    def relayed(self):
        """True when a greenknobs parent measures (this process only reports stages)."""
        return self._client is not None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        if self._started_at is not None:
            raise RuntimeError("Tracker.start() called twice")
        self._started_at = _utc_now()
        if self._native is not None:
            self._native.start()
        with _lock:
            _active.append(self)
        return self

    def stop(self, error=None):
        """Closes open stages, stops measuring and writes the outputs (once)."""
        if self._started_at is None or self.status is not None:
            return
        with _lock:
            if self in _active:
                _active.remove(self)
        while self._stack:
            self._stack[-1].end()
        self.status = "failed" if error else "complete"
        self.error = error
        if self._native is None:
            return
        self._native.stop()
        text = self._native.report_json()
        self.report = json.loads(text)
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            _write_atomic(os.path.join(self.out, "emissions.csv"), _greenknobs.emissions_csv(text))
            _write_atomic(os.path.join(self.out, "power.csv"), _greenknobs.power_csv(text))
            _write_atomic(os.path.join(self.out, "run.json"),
                          json.dumps(self.run_record(), indent=2) + "\n")
        if self.print_summary:
            sys.stderr.write(_greenknobs.format_summary(text))
            for k in sorted(self.metrics):
                sys.stderr.write("metric %s = %.6g\n" % (k, self.metrics[k]))

    def run_record(self):
        """run.json (schema greenknobs.run/1): status, metrics and the energy report."""
        return {
            "schema": "greenknobs.run/1",
            "kind": "python",
            "status": self.status,
            "error": self.error,
            "name": self.project_name,
            "greenknobs_version": "0.1.0",
            "started_at": self._started_at,
            "finished_at": _utc_now(),
            "machine": {"hostname": platform.node(), "os": platform.platform(),
                        "logical_cpus": os.cpu_count(), "python": platform.python_version()},
            "metrics": dict(self.metrics),
            "energy": self.report,
        }

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(error=None if exc is None else "%s: %s" % (exc_type.__name__, exc))
        return False

    # -- stages and metrics ------------------------------------------------------------------
    def stage(self, name, work=None):
        """A stage nested in the innermost open one; ``with t.stage("train", work="samples") as
        s`` or ``@t.stage("evaluate")``."""
        return _StageFactory(lambda: self, name, work)

    def metric(self, name, value):
        """Records a metric (last value wins) into run.json, or sends it to the parent."""
        check_name(name, "metric name")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("metric %s: %r is not a finite number" % (name, value))
        self.metrics[name] = value
        if self._client is not None:
            self._client.metric(name, value)

    def sample_now(self):
        """One reading of every source now (tests with period_s=0)."""
        if self._native is not None:
            self._native.sample_now()

    def sources(self):
        """Every energy source on this machine, used or not and why (after start())."""
        return self._native.describe_sources() if self._native is not None else "relayed"

    def _begin(self, st):
        if self._started_at is None or self.status is not None:
            raise RuntimeError("stage %s outside Tracker start()..stop()" % st.name)
        if self._client is not None:
            self._client.begin(st.name)
            st._handle = -1
        else:
            st._handle = self._native.begin(st.name)
        self._stack.append(st)

    def _end(self, st):
        if st in self._stack:
            # Stages opened inside it and never closed end with it (as the C++ tracker's do).
            while self._stack and self._stack[-1] is not st:
                self._stack[-1].end()
            self._stack.pop()
        if self._client is not None:
            self._client.end(st.name)
        else:
            self._native.end(st._handle)

    def _add_work(self, st, unit, amount):
        if self._client is not None:
            if self._stack and self._stack[-1] is not st:
                raise RuntimeError("relayed work goes to the innermost stage; %s is not it"
                                   % st.name)
            self._client.work(unit, amount)
        else:
            self._native.add_work(st._handle, unit, amount)


_env_tracker = []  # a relaying tracker made on demand by stage()/metric() without a Tracker


def _current():
    tracker = active_tracker()
    if tracker is not None:
        return tracker
    if not _env_tracker and ProtocolClient.from_env() is not None:
        _env_tracker.append(Tracker(relay=True).start())
    return _env_tracker[0] if _env_tracker else None


def track(out=None, **options):
    """A decorator measuring every call of a function as one Tracker run (CodeCarbon's
    ``@track_emissions``); stages inside it use ``greenknobs.stage``. Options as for Tracker."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with Tracker(out=out, **options):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def stage(name, work=None):
    """A stage of the innermost running Tracker; without one, relayed to a greenknobs parent if
    there is one, else nothing. Context manager or decorator, like Tracker.stage()."""
    return _StageFactory(_current, name, work)


def metric(name, value):
    """Records a metric on the innermost running Tracker (or the greenknobs parent); else
    nothing."""
    tracker = _current()
    if tracker is not None:
        tracker.metric(name, value)
