"""Reading and writing torch.save files without ever running code from them.

Reads go through torch.load(weights_only=True), whose unpickler builds tensors and plain containers
only, with one class added to its allow-list for the duration of the call: argparse.Namespace,
which rosinality's train.py saves as "args" (an attribute bag; building one runs nothing). Before
that, the file's pickles are scanned (pickle_scan) so a refusal names every global the file wants.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..util.atomic import write_with
from .errors import CheckpointError
from .file_format import TORCH_ZIP
from .pickle_scan import globals_in_file
from .storage_bounds import check_legacy_file, check_views, tensors_in

# Beyond torch's own weights-only set: the classes a StyleGAN2 checkpoint legitimately holds.
EXTRA_ALLOWED_CLASSES = (argparse.Namespace,)
# Non-torch globals a checkpoint may name: torch's weights-only set emitted by torch.save itself
# (containers, bytes), and the classes above.
_ALLOWED_NON_TORCH_GLOBALS = {
    "collections.OrderedDict",
    "collections.Counter",
    "_codecs.encode",
    "builtins.set",
    "builtins.bytearray",
    "builtins.complex",
    *(f"{c.__module__}.{c.__qualname__}" for c in EXTRA_ALLOWED_CLASSES),
}


def load_torch_file(path: Path, file_format: str) -> Any:
    """The object a torch.save file holds, on CPU; CheckpointError for unsafe, truncated or corrupt files."""
    try:
        wanted = globals_in_file(path, zip_archive=file_format == TORCH_ZIP)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, MemoryError, OverflowError) as err:
        raise CheckpointError(f"{path}: cannot read this torch file (truncated or corrupt?): {err}") from err
    refused = sorted({name for name in wanted if not _looks_like_data(name)})
    if refused:
        raise _refusal(path, refused)
    if file_format == TORCH_ZIP:
        _check_records(path)
    if file_format != TORCH_ZIP:  # legacy streams allocate what they declare before reading it
        with open(path, "rb") as fh:
            check_legacy_file(fh, path.stat().st_size, str(path))
    try:
        with _allowing(EXTRA_ALLOWED_CLASSES):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's unpickler has the last word on names the scan let through (torch.* ones).
        named = re.findall(r"GLOBAL ([\w.]+)", str(err))
        if named:
            raise _refusal(path, sorted(set(named))) from err
        raise CheckpointError(f"{path}: cannot read this torch file safely: {first_line(err)}") from err
    except Exception as err:  # noqa: BLE001 - torch's reader on a damaged file (AssertionError, KeyError, ...)
        raise CheckpointError(
            f"{path}: cannot read this torch file (truncated or corrupt?): {first_line(err)}"
        ) from err
    check_views(tensors_in(obj), str(path))
    return obj


def _check_records(path: Path) -> None:
    """Every record of a torch zip archive matches the CRC-32 torch.save wrote for it: torch's own
    reader does not check them, so a damaged byte in a weight would load as another weight."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
        raise CheckpointError(f"{path}: cannot read this torch file (truncated or corrupt?): {err}") from err
    if damaged is not None:
        raise CheckpointError(
            f"{path}: its record {damaged[:100]} does not match the checksum written with it: "
            "the file is damaged; refused"
        )


def save_torch_file(path: str | os.PathLike, obj: Any) -> Path:
    """torch.save, atomically: the previous file stays intact until the new one is complete."""
    return write_with(path, lambda tmp: torch.save(obj, tmp))


def _looks_like_data(qualified_name: str) -> bool:
    # torch.* names are left to torch's unpickler, which knows exactly which of its rebuild
    # functions, storages and dtypes are data; everything else must be on the lists above.
    module = qualified_name.rpartition(".")[0]
    return module == "torch" or module.startswith("torch.") or qualified_name in _ALLOWED_NON_TORCH_GLOBALS


def _refusal(path: Path, names: list[str]) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused: the file needs {', '.join(names)} to be unpickled, which is not plain data "
        f"(tensors, containers, argparse.Namespace) and could run arbitrary code; nothing was loaded. "
        f"Only open such a file with code you trust, then save its state dicts."
    )


def _allowing(classes):
    scoped = getattr(torch.serialization, "safe_globals", None)
    if scoped is not None:
        return scoped(list(classes))
    # torch < 2.5 has no scoped form; these classes are inert data, so allowing them for good is harmless.
    torch.serialization.add_safe_globals(list(classes))
    return contextlib.nullcontext()


def first_line(err: BaseException) -> str:
    """The first line of an error's text (its type's name when it has none)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
