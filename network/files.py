"""Writing files so that a reader never sees half of one, and no run clobbers another's.

Every file this program writes goes through :func:`atomic_write`: a temporary file in the target's folder,
fsynced, renamed onto the target, and the folder fsynced, so that after a crash or a power loss the target
holds either its old content or the whole new one. Temporary files are named ``.NAME.PID.RANDOM`` +
:data:`TEMP_SUFFIX`; one whose process is gone is stale and removed when the same target is written again.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".scratchnet-tmp"
LOCK_SUFFIX = ".scratchnet-lock"
NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes away from it


class OutputRefused(OSError):
    """An output path this program will not write: the message is one line naming the path and why. An
    OSError, so that every command's handler of unwritable paths reports it in one line too."""


def real_target(path: str | Path) -> Path:
    """The file that writing ``path`` must change: a symlink is followed, so the link stays a link."""
    return Path(os.path.realpath(path))


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISFIFO, "a fifo"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), None)


def check_output(path: str | Path) -> None:
    """Refuse, before any work, a path that :func:`atomic_write` could not or must not replace: one that is
    a folder, a device, a fifo or a socket, or whose folder cannot be created or written in."""
    target = real_target(path)
    try:
        kind = _kind(target.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):  # the folder checks below say which
        kind = None
    if kind is not None:
        raise OutputRefused(f"{path} is {kind}, not a regular file")
    folder = target.parent
    while not folder.exists():  # atomic_write creates the missing folders: the first existing one decides
        folder = folder.parent
    if not folder.is_dir():
        raise OutputRefused(f"{path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputRefused(f"{path}: cannot write in {folder} (permission denied or read-only)")


def _stale_temp_pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(f".{name}.") + r"(\d+)\.[^.]+" + re.escape(TEMP_SUFFIX))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` left by processes that no longer run; return them."""
    pattern = _stale_temp_pattern(target.name)
    removed = []
    for candidate in target.parent.glob(f".{glob.escape(target.name)}.*{TEMP_SUFFIX}"):
        match = pattern.fullmatch(candidate.name)
        if match and not _process_alive(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it, so set it straight back
    os.umask(mask)
    return mask


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``'s target; rename it onto the target only if the block succeeds.

    On any error (Ctrl-C included) the temporary file is removed and the target keeps what it had. The new
    file gets the mode the umask gives (0644 under umask 022); a symlink is written through.
    """
    check_output(path)
    target = real_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, NEW_FILE_MODE & ~_umask())  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points to them
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s target while the block runs, or raise :class:`OutputRefused`
    naming the process that took it and how to clear it. The lock is a file beside the target, removed on
    release; the kernel releases it when every process holding it has ended, so the file a killed run
    leaves behind is taken over by the next run."""
    target = real_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}{LOCK_SUFFIX}"
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
        except OSError as err:
            raise OutputRefused(f"{path}: cannot create its lock file {lock_path} ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise OutputRefused(_held_lock_message(path, lock_path, holder)) from None
        # A holder that released in between removed the file we opened: lock the one now at the path.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still holding it, so no one else can have it yet
        os.close(fd)


def _held_lock_message(path: str | Path, lock_path: Path, holder: str) -> str:
    """Why ``path`` is refused: the lock at ``lock_path`` is held, taken by process ``holder`` (its pid as
    the lock file records it, or "" if it has not written it yet)."""
    if not holder.isdigit():
        return f"{path} is being written by another run (its lock {lock_path} names no process yet)"
    if _process_alive(int(holder)):
        return (
            f"{path} is being written by another run (process {holder}); if it is not a training run, "
            f"stop it or delete {lock_path}"
        )
    # flock is shared by every process forked with the open lock: one of them outlived the run that locked
    return (
        f"{path}: its lock {lock_path} is held though process {holder}, which took it, has ended (a process "
        f"it started holds it still): stop that process, or delete {lock_path}"
    )
