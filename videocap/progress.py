"""Progress of long stages on stderr, and printing beside it.

One place builds every progress bar, so that all stages report the same way: a redrawn bar when stderr
is a terminal; when it is not (a log file, a pipe), a plain line every ``LOG_INTERVAL`` seconds per stage
and one when the stage ends, with no redraws. stdout stays free for machine-readable output and the
captions (printed through ``print_line`` so they never interleave with a bar).

Test hook: with ``VIDEOCAP_FAULT=<stage>:<signal>`` in the environment (e.g. ``rendering:SIGTERM``), the
process sends itself that signal when the stage's first unit of work is done (``fault_point``); the
fault-injection tests use it to interrupt a real run at a known stage. Unset, it does nothing.

Listeners (``listening``) are told every stage's progress, shown or not: the server's jobs report it to
their clients that way, and stop a cancelled run by raising from the listener.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

LOG_INTERVAL = 5.0  # seconds between two progress lines of one stage in a log

Listener = Callable[[str, int, "int | None"], None]  # (stage, units done, total or None)
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Tell ``listener`` each progress update of every stage while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _tell(stage: str, done: int, total: int | None) -> None:
    for listener in list(_listeners):
        listener(stage, done, total)


def fault_point(stage: str) -> None:
    """Send this process the signal ``VIDEOCAP_FAULT`` names for ``stage`` (the test hook; see above)."""
    fault = os.environ.get("VIDEOCAP_FAULT", "")
    name, _, signame = fault.partition(":")
    if name == stage and signame:
        os.kill(os.getpid(), getattr(signal, signame))


class _Bar(tqdm):
    def __init__(self, *args, stage: str, **kwargs) -> None:
        self.stage, self.started_work = stage, False  # a disabled tqdm keeps no desc (nor its count)
        self.done, self.units = 0, kwargs.get("total")
        super().__init__(*args, **kwargs)
        _tell(stage, 0, self.units)

    def update(self, n: float | None = 1) -> bool | None:
        if not self.started_work and n:
            self.started_work = True
            fault_point(self.stage)
        self.done += n or 0
        _tell(self.stage, self.done, self.units)
        return super().update(n)


class LogProgress:
    """Progress as plain lines, for a stderr that is not a terminal; what the stages use of a tqdm bar."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.logged = 0
        self.started = self.last = time.monotonic()
        _tell(desc, 0, total)

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close(finished=exc[0] is None)

    def update(self, n: int = 1) -> None:
        if self.n == 0 and n:
            fault_point(self.desc)
        self.n += n
        _tell(self.desc, self.n, self.total)
        now = time.monotonic()
        if now - self.last >= LOG_INTERVAL:
            self.last = now
            self._line()

    def _line(self, end: str = "") -> None:
        if self.started is None:
            return
        self.logged = self.n
        elapsed = time.monotonic() - self.started
        of = f"/{self.total}" if self.total else ""
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 and self.n else ""
        print(f"{self.desc}: {self.n}{of} {self.unit}s{share} in {elapsed:.1f}s{rate}{end}", file=sys.stderr,
              flush=True)

    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def set_postfix(self, **values) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        if self.started is not None and (self.n != self.logged or not self.n or not finished):
            self._line("" if finished else " (stopped)")
        self.started = None


def progress_bar(total: int | None, desc: str, unit: str, enabled: bool = True) -> tqdm | LogProgress:
    if enabled and not sys.stderr.isatty():
        return LogProgress(total, desc, unit)
    return _Bar(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True, stage=desc)


def print_line(text: str) -> None:
    """One line on stdout, written around any progress bar on stderr."""
    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()
