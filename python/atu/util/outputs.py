"""The output a command writes (--out), taken care of before any work: checked writable, and held
by one atu process at a time.

Writable: an output whose folder cannot be written would otherwise fail after all the training.

One process: an exclusive lock on --out for the whole command.

Two runs writing one folder would interleave their logs and overwrite each other's checkpoints, and
both would report success. The lock is an flock on a file in the system's temporary directory named
after the output's absolute path, so nothing is written beside the user's files and the kernel
releases it when the process ends, however it ends. Under torchrun only rank 0 writes, so only rank
0 takes it.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

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
    except (RuntimeError, OSError) as err:          # a symlink loop (RuntimeError before Python 3.13)
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


def lock_file(out: str | os.PathLike) -> Path:
    key = hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"atu-{os.getuid()}" / f"{key}.lock"


@contextlib.contextmanager
def held(out: str | os.PathLike, option: str = "--out") -> Iterator[None]:
    """Holds the lock of `out` for the block; OutputInUseError at once if another process has it."""
    path = lock_file(out)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise OutputInUseError(f"{option} {out} is being written by another atu process ({holder}); "
                                   f"wait for it to finish or choose another {option}") from None
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
