"""Peak memory of one training epoch: ``python -m reports.memory [TRAINING OPTIONS]``.

It runs ``python -m network.train --dataset fashion-mnist --epochs 1`` in a child process, followed by the
options given (they override: ``--data-dir DIR``, ``--backend numba``), prints the child's peak resident set
size against the bound of ``BOUND_MB`` and writes it into the README's ``memory`` section, so that the
number there is never typed by hand. The peak is the kernel's own count, read from the child's rusage as
it is reaped (``os.wait4``): a sampling loop could miss a short peak, and ``getrusage(RUSAGE_CHILDREN)``
would report the largest child this process ever waited for. Linux counts in a child's peak the memory
of the process it was started from (the address space that ``exec`` replaces), so this module starts
the child before it imports anything but the standard library (the README's writer brings pandas and
matplotlib, 90 MB): the count then includes this process's 10 MB or so, far below a training run's peak.
Exit status: the training's if it failed, else 1 if the peak is above the bound, else 0.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

TRAINING = ("-m", "network.train", "--dataset", "fashion-mnist", "--epochs", "1")
BOUND_MB = 160  # issue 28: the pixels as uint8 (55 MB of Fashion-MNIST) beside the interpreter's ~90 MB
# ru_maxrss is in kibibytes on Linux, in bytes on macOS
MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


def peak_rss(argv: list[str]) -> tuple[int, int]:
    """Run ``argv`` (a program and its arguments) in a child process with this one's output; return its
    exit status (128 + the signal's number if a signal ended it, as a shell says) and its peak resident
    set size in bytes."""
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code, usage.ru_maxrss * MAXRSS_BYTES


def main(argv: list[str] | None = None, readme: Path | None = None) -> int:
    """Measure the training run with the options ``argv`` (default: the command line's) and write the
    result into ``readme`` (default: the repository's README)."""
    options = sys.argv[1:] if argv is None else argv
    command = [*TRAINING, *options]
    status, peak = peak_rss([sys.executable, *command])
    if status != 0:
        print(f"python -m reports.memory: error: the training exited with status {status}", file=sys.stderr)
        return status
    # Only now: imported before the run, their memory would count in its peak (the module's docstring).
    from reports.accuracy import machine
    from reports.readme import README, update_section

    megabytes = peak / 1e6
    verdict = "within" if megabytes <= BOUND_MB else "above"
    text = (
        f"One epoch of `python {shlex.join(command)}` peaked at {megabytes:.0f} MB resident "
        f"({verdict} the bound of {BOUND_MB} MB), measured by `python -m reports.memory` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d} ({machine()})."
    )
    update_section(README if readme is None else readme, "memory", text)
    print(text)
    return 0 if megabytes <= BOUND_MB else 1


if __name__ == "__main__":
    sys.exit(main())
