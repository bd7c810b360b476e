"""The output a command writes (--out), taken care of before any work: checked writable, and held
by one atu process at a time.

Writable: an output whose folder cannot be written would otherwise fail after all the training.

One process: an exclusive lock on --out for the whole command.

Two runs writing one folder would interleave their logs and overwrite each other's checkpoints, and
both would report success. The lock is an flock on a file named after the output itself: the device
and inode of the folder that holds it, and its name (so the same folder reached by another path, a
symlink or a bind mount, is the same output), in a folder private to the user at a fixed place
(/tmp/atu-<uid>, whatever TMPDIR says, so processes with different TMPDIRs meet there). That folder
must be a real folder owned by the user and closed to others, and the lock file is opened without
following symlinks: a lock folder or file planted by someone else is refused, never written through.
Nothing is written beside the user's files, and the kernel releases the lock when the process ends,
however it ends. Under torchrun only rank 0 writes, so only rank 0 takes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import AtuError, InputError


class OutputInUseError(AtuError, RuntimeError):
    """Another atu process holds the output this one was asked to write."""

    exit_status = 2


class OutputNotWritableError(InputError):
    """The output cannot be created or written where it was asked for."""


def check_writable(out: str | os.PathLike, option: str = "--out") -> None:
    """Raises OutputNotWritableError unless `out` can be written: its nearest existing ancestor is
    a writable folder, and nothing in the way is a file posing as a folder or a symlink loop."""
    path = Path(out)
    try:
        resolved = path.resolve(strict=False)
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise OutputNotWritableError(f"{option} {out}: cannot be resolved ({err})") from None
    if path.is_symlink() and not path.exists():
        raise OutputNotWritableError(f"{option} {out}: a symlink to nothing ({os.readlink(path)})")
    ancestor = resolved
    while not ancestor.exists():
        ancestor = ancestor.parent
    if ancestor != resolved and not ancestor.is_dir():
        raise OutputNotWritableError(f"{option} {out}: {ancestor} is a file, not a folder")
    target = ancestor if ancestor.is_dir() else ancestor.parent
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"{option} {out}: {target} is not writable")


LOCK_ROOT = Path("/tmp")  # fixed, not tempfile.gettempdir(): TMPDIR differs between processes


def lock_folder() -> Path:
    """/tmp/atu-<uid> (the system's temporary folder where there is no /tmp), created private;
    OutputNotWritableError if what is there is not a folder of this user closed to others."""
    root = LOCK_ROOT if LOCK_ROOT.is_dir() else Path(tempfile.gettempdir())
    folder = root / f"atu-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise OutputNotWritableError(f"cannot create the lock folder {folder}: {err.strerror}") from None
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OutputNotWritableError(
            f"the lock folder {folder} is not a private folder of this user (a symlink, another user's, or open to "
            f"others: mode {stat.filemode(info.st_mode)}, owner {info.st_uid}); remove it and run again"
        )
    return folder


def lock_key(out: str | os.PathLike) -> str:
    """What identifies an output whichever path names it: its folder's device and inode and its name
    (the resolved path where that folder does not exist yet)."""
    path = Path(out).resolve(strict=False)
    try:
        info = os.stat(path.parent)
    except OSError:
        return hashlib.sha256(str(path).encode()).hexdigest()[:32]
    return hashlib.sha256(f"{info.st_dev}:{info.st_ino}/{path.name}".encode()).hexdigest()[:32]


def lock_file(out: str | os.PathLike) -> Path:
    return lock_folder() / f"{lock_key(out)}.lock"


@contextlib.contextmanager
def held(out: str | os.PathLike, option: str = "--out") -> Iterator[None]:
    """Holds the lock of `out` for the block; OutputInUseError at once if another process has it."""
    path = lock_file(out)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:  # ELOOP: a symlink planted where the lock file goes
        raise OutputNotWritableError(
            f"cannot open the lock file {path} ({err.strerror}); remove it and run again"
        ) from None
    with os.fdopen(fd, "r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read(100).strip() or "another process"
            raise OutputInUseError(
                f"{option} {out} is being written by another atu process ({holder}); "
                f"wait for it to finish or choose another {option}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
