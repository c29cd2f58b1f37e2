"""network.files: atomic, durable writes with the umask's mode, written through symlinks, refusing what is
not a regular file, cleaning its own stale temporary files, and a lock per output."""

from __future__ import annotations

import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from network import files
from network.files import TEMP_SUFFIX, OutputRefused, atomic_write, check_output, output_lock


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as f:
        f.write("half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_mode_is_the_umasks(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "new", "w") as f:
            f.write("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == mode


def test_the_file_then_the_folder_are_fsynced_around_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "f"
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with atomic_write(target, "w") as f:
        f.write("x")
    assert synced == [(False, False), (True, True)]  # the file before the rename, its folder after


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "elsewhere" / "real.txt"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with atomic_write(link, "w") as f:
        f.write("new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [(Path.mkdir, "a folder"), (make_fifo, "a fifo"), (make_socket, "a socket")],
    ids=["folder", "fifo", "socket"],
)
def test_what_is_not_a_regular_file_is_refused_and_left_alone(tmp_path, make, kind):
    odd = tmp_path / "odd"
    make(odd)
    mode = odd.lstat().st_mode
    with pytest.raises(OutputRefused, match=f"^{odd} is {kind}, not a regular file$"):
        check_output(odd)
    with pytest.raises(OutputRefused), atomic_write(odd) as f:
        f.write(b"x")
    assert odd.lstat().st_mode == mode and os.listdir(tmp_path) == ["odd"]


def test_a_device_is_named_as_one():
    assert files._kind(stat.S_IFCHR) == files._kind(stat.S_IFBLK) == "a device"
    assert files._kind(stat.S_IFREG) is None


def test_a_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputRefused, match="plain is not a folder$"):
        check_output(tmp_path / "plain" / "sub" / "out.npz")


def as_a_normal_user(check) -> bool:
    """``check()`` (True if it holds) run as a normal user: root may write in any folder, so a root test
    process runs it in a child that drops to ``nobody``."""
    if os.geteuid() != 0:
        return check()
    child = os.fork()
    if child == 0:
        try:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            held = check()
        finally:
            os._exit(0 if locals().get("held") else 1)
    return os.waitpid(child, 0)[1] == 0


def test_a_read_only_folder_is_refused():
    with (
        tempfile.TemporaryDirectory() as top
    ):  # not tmp_path: its parents admit only the user who runs pytest
        os.chmod(top, 0o755)
        folder = Path(top) / "ro"
        folder.mkdir(mode=0o555)

        def refused() -> bool:
            try:
                check_output(folder / "out.npz")
            except OutputRefused as err:
                return (
                    str(err) == f"{folder}/out.npz: cannot write in {folder} (permission denied or read-only)"
                )
            return False

        assert as_a_normal_user(refused)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_stale_temporary_files_are_removed_live_ones_and_others_kept(tmp_path):
    target = tmp_path / "ckpt.npz"
    stale = tmp_path / f".ckpt.npz.{dead_pid()}.abc123{TEMP_SUFFIX}"
    live = tmp_path / f".ckpt.npz.{os.getppid()}.abc123{TEMP_SUFFIX}"
    another_targets = tmp_path / f".other.npz.{dead_pid()}.abc123{TEMP_SUFFIX}"
    users = tmp_path / ".ckpt.npz.notes.txt"
    for path in (stale, live, another_targets, users):
        path.write_text("x")
    with atomic_write(target, "w") as f:
        f.write("new")
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (target, live, another_targets, users))


def test_a_held_lock_is_refused_naming_its_process_and_removed_on_release(tmp_path):
    target = tmp_path / "ckpt.npz"
    with output_lock(target):
        lock = tmp_path / f".ckpt.npz{files.LOCK_SUFFIX}"
        message = (
            f"{target} is being written by another run (process {os.getpid()}); if it is not a training run, "
            f"stop it or delete {lock}"
        )
        with pytest.raises(OutputRefused, match=f"^{re.escape(message)}$"):
            with output_lock(target):
                pass
        # another process is refused too (flock locks are per open file, so this holds across processes)
        probe = "from network.files import output_lock\nimport sys\nwith output_lock(sys.argv[1]): pass"
        other = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True)
        assert other.returncode == 1 and "is being written by another run" in other.stderr
    assert os.listdir(tmp_path) == []
    with output_lock(target):  # and free again
        pass


def test_a_lock_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    lock = tmp_path / f".out.csv{files.LOCK_SUFFIX}"
    message = f"^{tmp_path}/out.csv: cannot create its lock file {lock} \\(Permission denied\\)$"
    with pytest.raises(OutputRefused, match=message), output_lock(tmp_path / "out.csv"):
        pass


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    target = tmp_path / "ckpt.npz"
    hold = "from network.files import output_lock\nimport os, sys\nwith output_lock(sys.argv[1]): os._exit(0)"
    subprocess.run([sys.executable, "-c", hold, str(target)], check=True)  # ends as SIGKILL would end it
    assert os.listdir(tmp_path) == [f".ckpt.npz{files.LOCK_SUFFIX}"]
    with output_lock(target):  # the kernel released its lock with the process: the file is free to take
        pass
    assert os.listdir(tmp_path) == []


# A run that forks a process which outlives it: the child holds the lock that the ended parent took.
FORKED_HOLDER = """
import os, sys, time
from network.files import output_lock
with output_lock(sys.argv[1]):
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    os._exit(0)
"""


def test_a_lock_held_after_its_run_ended_names_the_run_and_how_to_clear_it(tmp_path):
    target = tmp_path / "ckpt.npz"
    parent = subprocess.Popen(
        [sys.executable, "-c", FORKED_HOLDER, str(target)], stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    try:
        assert parent.wait(timeout=60) == 0
        lock = tmp_path / f".ckpt.npz{files.LOCK_SUFFIX}"
        message = (
            f"{target}: its lock {lock} is held though process {parent.pid}, which took it, has ended (a "
            f"process it started holds it still): stop that process, or delete {lock}"
        )
        with pytest.raises(OutputRefused, match=f"^{re.escape(message)}$"), output_lock(target):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        parent.stdout.close()
