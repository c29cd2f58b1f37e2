"""Stopping a training run on a signal so that it keeps its work.

The first Ctrl-C (SIGINT), SIGTERM (what ``timeout``, ``docker stop`` and batch schedulers send) or SIGHUP
(the terminal went away) asks the trainer to stop after its current step; the run then saves and exits
with 128 + the signal's number, the shell's convention (130, 143, 129). A second signal stops at once:
it raises KeyboardInterrupt wherever the run is, so a checkpoint being written is abandoned whole
(``atomic_write`` removes its temporary file) and the previous one stays. A signal the process was started
ignoring (``nohup`` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SIGNAL_EXIT_BASE = 128  # a process ended by signal N exits with 128 + N, by the shell's convention


@dataclass
class ReceivedSignal:
    """The last stop signal received (None before any)."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_BASE + self.signum


@contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[ReceivedSignal]:
    """While the block runs, the first stop signal calls ``request_stop`` and a second raises
    KeyboardInterrupt; the previous handlers come back afterwards."""
    received = ReceivedSignal()
    handled = [signum for signum in STOP_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN]

    def stop_now(signum: int, frame: object) -> None:
        received.signum = signum
        raise KeyboardInterrupt

    def stop_soon(signum: int, frame: object) -> None:
        received.signum = signum
        for each in handled:
            signal.signal(each, stop_now)
        request_stop()

    previous = {signum: signal.signal(signum, stop_soon) for signum in handled}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
