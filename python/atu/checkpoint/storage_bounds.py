"""What a file may make atu allocate: no more than the file holds.

A torch pickle names each tensor storage by a persistent id ("storage", type, key, location, numel)
and builds tensors as views (offset, size, stride) of those storages. Both are claims the file makes,
not facts: the legacy torch.save format (no zip; also what NVlabs' pickles embed for every tensor,
through torch.storage._load_from_bytes) allocates numel elements before it reads a single byte, so a
few bytes can ask for terabytes; and a view with zero strides can present a billion elements over a
storage of one, which the first copy then materialises. These checks run before either can happen:

  declared_storages   the storages a pickle declares, read by a dry run in which every global is a
                      fresh inert placeholder class (nothing of the file is imported or called)
  check_legacy_stream a legacy torch.save stream declares no more storage bytes than it holds
  check_views         every tensor read stays inside its storage and has no more elements than it
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import torch

from .errors import MALFORMED_PICKLE, CheckpointError

# Element sizes of the storage classes torch.save names in persistent ids (torch.<Name>Storage).
_ELEMENT_SIZES = {
    "UntypedStorage": 1,
    "ByteStorage": 1,
    "CharStorage": 1,
    "BoolStorage": 1,
    "QUInt8Storage": 1,
    "QInt8Storage": 1,
    "ShortStorage": 2,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "IntStorage": 4,
    "FloatStorage": 4,
    "QInt32Storage": 4,
    "LongStorage": 8,
    "DoubleStorage": 8,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
}


class _Inert:
    """Base of the placeholder classes a dry run hands out for globals: calling, constructing or
    setting state on one does nothing and returns another placeholder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    # what SETITEM(S), APPEND(S) and ADDITEMS do to the containers a placeholder stands for
    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def add(self, value: Any) -> None:
        pass


class _DryRun(pickle.Unpickler):
    def __init__(self, stream):
        super().__init__(stream)
        self.storages: list[tuple[str, str, int]] = []

    def find_class(self, module: str, name: str):
        return type(name, (_Inert,), {"_global": f"{module}.{name}"})

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            type_name = getattr(pid[1], "_global", "?").rpartition(".")[2]
            self.storages.append((str(pid[2]), type_name, pid[4]))
        return _Inert()


def declared_storages(stream) -> list[tuple[str, int]]:
    """(key, bytes) of every storage one pickle in `stream` declares, read up to its STOP.
    CheckpointError for a declaration that is not a count of a known storage type."""
    dry = _DryRun(stream)
    try:
        dry.load()
    except CheckpointError:
        raise
    except MALFORMED_PICKLE as err:
        raise CheckpointError(
            f"not a readable pickle (truncated or corrupt?): {type(err).__name__}: {str(err)[:200]}"
        ) from None
    out = []
    for key, type_name, numel in dry.storages:
        size = _ELEMENT_SIZES.get(type_name)
        if size is None:
            raise CheckpointError(f"a tensor storage of unknown type {type_name[:60]!r}")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise CheckpointError(f"a tensor storage whose size is {str(numel)[:40]!r}, not a count")
        out.append((key, numel * size))
    return out


def check_legacy_stream(data: bytes, where: str) -> None:
    """A legacy torch.save stream in memory (what NVlabs' pickles embed per tensor): see check_legacy_file."""
    check_legacy_file(io.BytesIO(data), len(data), where)


def check_legacy_file(stream: BinaryIO, size: int, where: str) -> None:
    """A legacy torch.save stream (magic number, protocol, system info, the object, the storage keys,
    then the storages' bytes) declares no more storage bytes than its `size` bytes hold. A zip archive
    is left to torch, whose zip reader compares each declared storage with the size of its record."""
    start = stream.tell()
    if stream.read(4) == b"PK\x03\x04":
        return
    stream.seek(start)
    for part in ("magic number", "protocol version", "system information"):
        try:
            for _ in pickletools.genops(stream):  # walks the opcodes to STOP, runs nothing
                pass
        except ValueError as err:
            raise CheckpointError(f"{where}: not a readable torch stream: its {part} is damaged ({err})") from None
    try:
        declared = sum(nbytes for _, nbytes in declared_storages(stream))
    except CheckpointError as err:
        raise CheckpointError(f"{where}: {err}") from None
    finally:
        stream.seek(start)
    if declared > size:
        raise CheckpointError(
            f"{where}: declares {declared:,} bytes of tensor storage but holds only "
            f"{size:,} bytes; refused before allocating anything"
        )


def tensors_in(obj: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(path, tensor) of every tensor in nested dicts, lists and tuples, each container visited once
    (a file's shared references make a graph that a plain walk could expand without end)."""
    seen: set[int] = set()
    stack = [(path, obj)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, torch.Tensor):
            yield where or "the tensor", item
        elif isinstance(item, (dict, list, tuple)) and id(item) not in seen:
            seen.add(id(item))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((f"{where}/{str(k)[:60]}" if where else str(k)[:60], v) for k, v in pairs)


def check_views(tensors: Iterable[tuple[str, torch.Tensor]], where: str) -> None:
    """Each tensor lies inside its storage and has no more elements than the storage holds (no
    zero-stride or overlapping view that a copy would blow up). Checked on the views, which cost
    nothing; CheckpointError naming the first that does not (prefixed by `where` when given)."""
    prefix = f"{where}: " if where else ""
    for name, tensor in tensors:
        if tensor.layout != torch.strided:
            raise CheckpointError(f"{prefix}{name} is a {tensor.layout} tensor; checkpoints hold dense tensors")
        size = tensor.element_size()
        capacity = tensor.untyped_storage().nbytes()
        if tensor.numel() == 0:
            continue
        if any(s < 0 for s in tensor.stride()):
            raise CheckpointError(f"{prefix}{name} has a negative stride")
        last = tensor.storage_offset() + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride()))
        if (last + 1) * size > capacity or tensor.numel() * size > capacity:
            raise CheckpointError(
                f"{prefix}{name} claims {tensor.numel():,} elements of shape {tuple(tensor.shape)} over a storage of "
                f"{capacity:,} bytes (a view that repeats or overruns its data); refused before copying it"
            )
