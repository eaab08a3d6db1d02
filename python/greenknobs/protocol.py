"""The child side of greenknobs' stage protocol (docs/byo.md), in pure Python.

Under ``greenknobs measure`` or ``greenknobs study`` the parent sets GREENKNOBS_STAGE_FD (a pipe
to write ``begin NAME`` / ``end NAME`` / ``metric NAME VALUE`` / ``work UNIT N`` lines to) and
GREENKNOBS_STAGE_ACK_FD (one byte back per begin/end once the parent has taken the boundary).
The parent timestamps every boundary, so this process's clock never matters.
"""
import errno
import math
import os
import re

STAGE_FD_ENV = "GREENKNOBS_STAGE_FD"
STAGE_ACK_FD_ENV = "GREENKNOBS_STAGE_ACK_FD"

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def check_name(name, what="name"):
    """Raises ValueError unless `name` is a valid protocol name (also used for local stages)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "bad %s %r: 1-128 characters of A-Z a-z 0-9 _ . : - (no spaces, no '/')" % (what, name)
        )
    return name


def _env_fd(name):
    value = os.environ.get(name, "")
    if not value.isdigit():
        return None
    return int(value)


class ProtocolClient:
    """Writes protocol lines to a parent. Stages nest; use it from one thread."""

    def __init__(self, fd, ack_fd=None):
        self.fd = fd
        self.ack_fd = ack_fd
        self.lines_sent = 0

    @classmethod
    def from_env(cls):
        """The client for this process's parent, or None when no greenknobs parent listens."""
        fd = _env_fd(STAGE_FD_ENV)
        if fd is None:
            return None
        return cls(fd, _env_fd(STAGE_ACK_FD_ENV))

    def _send(self, line, wait_ack):
        data = line.encode("ascii")
        # One write of a line shorter than PIPE_BUF is atomic: lines of two processes never mix.
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except InterruptedError:
                continue
            view = view[n:]
        self.lines_sent += 1
        if wait_ack and self.ack_fd is not None:
            while True:
                try:
                    got = os.read(self.ack_fd, 1)
                except InterruptedError:
                    continue
                except OSError as e:
                    if e.errno == errno.EBADF:
                        self.ack_fd = None
                        return
                    raise
                if not got:
                    self.ack_fd = None  # the parent went away; stop waiting
                return

    def begin(self, name):
        self._send("begin %s\n" % check_name(name, "stage name"), True)

    def end(self, name):
        self._send("end %s\n" % check_name(name, "stage name"), True)

    def metric(self, name, value):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("metric %s: %r is not a finite number" % (name, value))
        self._send("metric %s %s\n" % (check_name(name, "metric name"), repr(value)), False)

    def work(self, unit, amount):
        amount = float(amount)
        if not math.isfinite(amount) or amount < 0:
            raise ValueError("work %s: %r is not a finite number >= 0" % (unit, amount))
        self._send("work %s %s\n" % (check_name(unit, "work unit"), repr(amount)), False)
