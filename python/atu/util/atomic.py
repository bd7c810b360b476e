"""Atomic file writes: a crash (or Ctrl-C) never leaves a half-written file behind.

Every file atu writes that a later run reads (checkpoints, feedback bundles, metrics) goes through
here: the bytes go to a temporary file in the destination's folder, are flushed to disk, and the
temporary file is renamed over the destination, which POSIX and Windows make atomic. The previous
file stays intact until the rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import RunFailedError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success it is renamed to `path`, on error removed.

    Use it for writers that want a file name (torch.save, safetensors, PIL)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates files readable by the owner only; give the result the permissions a plain
        # open() would (0o666 minus the umask), so checkpoints can be shared like any other file.
        os.chmod(tmp, 0o666 & ~_current_umask())
        with open(tmp, "rb+") as fh:  # the rename must not reach the disk before the data
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        reason = _storage_failure(err)
        if reason is None:
            raise
        kept = "the previous file is intact" if dest.exists() else "nothing was written"
        raise WriteFailedError(f"cannot write {dest}: {reason}; {kept}") from err
    _fsync_dir(dest.parent)


class WriteFailedError(RunFailedError, OSError):
    """The disk refused a write (full, over a quota or file-size limit, read-only, failing): the run
    stops there with its last complete files in place."""


_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EFBIG: "the file is over the size limit",
    errno.EDQUOT: "over the disk quota",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an input/output error",
}
# How the writers atu calls report the same through their own exception types (torch.save's
# RuntimeError, safetensors' SafetensorError), with the OS's text inside.
_STORAGE_TEXTS = {
    "No space left on device": "no space left on device",
    "File too large": "the file is over the size limit",
    "Disk quota exceeded": "over the disk quota",
    "Read-only file system": "the file system is read-only",
    "failed writing file": "the disk refused the write",
    "unexpected pos": "the disk refused the write",
}  # torch.save's stream writer, cut short


def _storage_failure(err: BaseException) -> str | None:
    """What went wrong with the storage, when that is why `err` was raised; None otherwise."""
    if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
        return _STORAGE_ERRNOS[err.errno]
    if isinstance(err, (OSError, RuntimeError)) or type(err).__name__ == "SafetensorError":
        text = str(err)
        for needle, reason in _STORAGE_TEXTS.items():
            if needle in text:
                return reason
    return None


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Calls writer(tmp_path) and moves the result into place atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _current_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
