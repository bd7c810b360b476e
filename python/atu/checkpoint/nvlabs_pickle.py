"""NVlabs network pickles (stylegan2-ada-pytorch's network-snapshot-*.pkl), read without running them.

NVlabs' torch_utils/persistence.py pickles every network as a call
`_reconstruct_persistent_obj(meta)`, meta = {type, version, module_src, class_name, state}: on load it
executes `module_src`, the Python source of the module that defined the class, and builds the object
from it. Nothing here ever does that. A restricted unpickler resolves that call, and every other
global, from a fixed table of our own functions:

  torch_utils.persistence._reconstruct_persistent_obj   -> a PersistentRecord (class name, version,
                                                            the source's sha256, the state as data)
  dnnlib.util.EasyDict, collections.OrderedDict          -> dicts
  torch._utils._rebuild_tensor_v2 / _rebuild_parameter   -> tensors (torch's own rebuild functions)
  torch.storage._load_from_bytes                         -> torch.load(weights_only=True) of the bytes
  numpy scalars (a layer's weight_gain)                  -> Python numbers, plain numeric dtypes only

Any other global is refused with a CheckpointError naming it, before anything is built from the file.
The functions above are handed to the unpickler wrapped, so that a BUILD opcode aimed at one sets
nothing on torch's or atu's own objects; a storage's bytes are checked against what they declare
before torch allocates it, and a tensor view against its storage (storage_bounds.py).

What the records hold is the file's claim, read as NVlabs' persistence writes it: the module's
`__dict__` (its attributes, `_parameters`, `_buffers`, `_modules`, and the constructor's arguments as
`_init_args` / `_init_kwargs`). The accessors below check each field's type where it is read, so a
record of the wrong shape is a CheckpointError naming the field, never an AttributeError; a network's
parameters and buffers are read off the nested records (`state_dict_of`), refusing cycles.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import MALFORMED_PICKLE, CheckpointError
from .pickle_scan import globals_in_pickle
from .storage_bounds import check_legacy_stream, check_views
from .torch_file import first_line

RECONSTRUCT = ("torch_utils.persistence", "_reconstruct_persistent_obj")
PERSISTENCE_VERSION = 6  # the only format version NVlabs' persistence.py has written


_MISSING = object()
MAX_NESTING = 64  # networks inside networks: StyleGAN2 has 5 levels, 64 is never legitimate


@dataclass
class PersistentRecord:
    """What a persistent object's pickle says about it, as data: nothing of it is executed."""

    class_name: str
    version: int
    source_sha256: str  # of the module source the pickle carries (kept to identify it, never run)
    state: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> dict[str, Any]:
        """One of nn.Module's name tables (`_parameters`, `_buffers`, `_modules`), checked to be one."""
        value = self.state.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"a {self.class_name} whose {name} is not a table of names ({type(value).__name__})")
        return dict(value)

    def submodules(self) -> dict[str, PersistentRecord | None]:
        children = self.table("_modules")
        for name, child in children.items():
            if child is not None and not isinstance(child, PersistentRecord):
                raise CheckpointError(
                    f"a {self.class_name} whose submodule {name!r} is a {type(child).__name__}, not a network"
                )
        return children

    def attribute(self, name: str, types: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        """An attribute NVlabs' constructor set (`self.up = up`), else the constructor keyword of that
        name, else `default`; CheckpointError when it is of another type or missing without a default."""
        value = self.state.get(name, _MISSING)
        if value is _MISSING:
            kwargs = self.state.get("_init_kwargs")
            value = kwargs.get(name, _MISSING) if isinstance(kwargs, dict) else _MISSING
        if value is _MISSING:
            if default is _MISSING:
                raise CheckpointError(f"a {self.class_name} without its {name!r}")
            return default
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
        if not ok:
            raise CheckpointError(f"a {self.class_name} whose {name!r} is {_short(value)} ({type(value).__name__})")
        return value

    def init_arguments(self) -> dict[str, Any]:
        """The constructor's arguments as the file has them: {"args": [...], "kwargs": {...}}."""
        args, kwargs = self.state.get("_init_args", ()), self.state.get("_init_kwargs", {})
        return {
            "args": list(args) if isinstance(args, (list, tuple)) else [],
            "kwargs": dict(kwargs) if isinstance(kwargs, dict) else {},
        }


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a {type(value).__name__}"
    return text[:60]


class EasyDict(dict):
    """dnnlib.util.EasyDict as plain data: a dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _record(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError(f"a persistent object whose description is not a class record ({type(meta).__name__})")
    version = meta.get("version")
    if version != PERSISTENCE_VERSION:
        raise CheckpointError(f"NVlabs persistence format version {version!r}; atu reads version {PERSISTENCE_VERSION}")
    source = meta.get("module_src")
    state = meta.get("state")
    if not isinstance(meta.get("class_name"), str) or not isinstance(source, str) or not isinstance(state, dict):
        raise CheckpointError("a persistent object without its class name, module source or state")
    return PersistentRecord(meta["class_name"], version, hashlib.sha256(source.encode()).hexdigest(), dict(state))


def _storage_from_bytes(data: bytes):
    if not isinstance(data, bytes):
        raise CheckpointError(f"a tensor storage given as a {type(data).__name__}, not bytes")
    check_legacy_stream(data, "a tensor's storage")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch's reader on damaged bytes: any failure means just that
        raise CheckpointError(
            f"a tensor's storage is damaged ({type(err).__name__}: {first_line(err)[:200]})"
        ) from None


def _tensor(*args):
    tensor = torch._utils._rebuild_tensor_v2(*args)
    check_views([("a tensor", tensor)], "")
    return tensor


def _parameter(data, *args):
    if not isinstance(data, torch.Tensor):
        raise CheckpointError(f"a parameter built from a {type(data).__name__}, not a tensor")
    return torch._utils._rebuild_parameter(data, *args)


class _Constructor:
    """An allowed function as the unpickler sees it: calls go through; a BUILD opcode aimed at it
    (which would set attributes on the function object itself) is refused."""

    __slots__ = ("_function", "_name")

    def __init__(self, function, name: str):
        self._function, self._name = function, name

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def __setstate__(self, state) -> None:
        raise CheckpointError(f"refused: the pickle sets attributes on {self._name}")


# NVlabs' layers keep numpy scalars in their state (weight_gain = 1 / np.sqrt(fan_in)): numpy pickles
# them as scalar(dtype(code), raw bytes). Only plain numeric codes are accepted, decoded to Python
# numbers; an object dtype (which could smuggle anything) is refused.
_NUMPY_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


class _NumpyDType:
    """numpy.dtype(code) as pickled, before any numpy object exists: the code and its byte order."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True):
        if code not in _NUMPY_CODES:
            raise CheckpointError(f"refused: a numpy dtype {str(code)[:20]!r}; only plain numbers are read")
        self.code, self.byteorder = code, "<"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = "<" if state[1] in ("|", "=") else state[1]


def _numpy_scalar(dtype: Any, data: Any = None):

    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise CheckpointError("refused: a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=np.dtype(dtype.byteorder + dtype.code), count=1)[0].item()


_FUNCTIONS = {
    RECONSTRUCT: _record,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,  # numpy 1.x
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # numpy 2.x
}
# Classes the pickle instantiates (NEWOBJ / REDUCE); pickle's BUILD on a class object itself fails
# on each of them (TypeError: their __setstate__ needs an instance, or the type is immutable).
_CLASSES = {
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("numpy", "dtype"): _NumpyDType,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _FUNCTIONS:
            return _Constructor(_FUNCTIONS[(module, name)], f"{module}.{name}")  # a fresh one per use
        if (module, name) in _CLASSES:
            return _CLASSES[(module, name)]
        raise CheckpointError(
            f"refused: the pickle needs {module[:100]}.{name[:100]}, which is not part of an "
            "NVlabs network pickle atu reads; nothing from the file was run"
        )

    def persistent_load(self, pid):
        raise CheckpointError("refused: the pickle refers to external persistent objects")


def is_nvlabs_pickle(globals_named: list[str]) -> bool:
    """Whether a pickle's globals (pickle_scan) mark it as an NVlabs persistence pickle."""
    return ".".join(RECONSTRUCT) in globals_named


def is_nvlabs_file(path: str | os.PathLike) -> bool:
    """Whether a pickle file is an NVlabs persistence pickle, from its opcodes (nothing is run)."""

    try:
        with open(path, "rb") as fh:
            return is_nvlabs_pickle(globals_in_pickle(fh))
    except (ValueError, EOFError, OSError, MemoryError, OverflowError):
        return False  # damaged: the torch-file reader reports it


def read_network_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The pickle's top-level dict ({"G": ..., "D": ..., "G_ema": ..., "training_set_kwargs": ...}),
    networks as PersistentRecords. CheckpointError for anything else or anything unsafe."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            top = _RestrictedUnpickler(fh).load()
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (*MALFORMED_PICKLE, RuntimeError) as err:
        raise CheckpointError(
            f"{path}: not a readable NVlabs network pickle (truncated or corrupt?): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from None
    if not isinstance(top, dict):
        raise CheckpointError(
            f"{path}: an NVlabs network pickle holds a dict of networks, this one a {type(top).__name__}"
        )
    return top


def state_dict_of(record: PersistentRecord, prefix: str = "", _open: tuple[int, ...] = ()) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of a network record and its submodules, under the dotted names
    torch's state_dict() would give them (non-persistent buffers left out, as state_dict does).
    CheckpointError for a record nested in itself or nested deeper than any network is."""
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{prefix or 'the network'}: expected a network, got {type(record).__name__}")
    if id(record) in _open or len(_open) >= MAX_NESTING:
        raise CheckpointError(
            f"{prefix.rstrip('.') or 'the network'}: a network that contains itself "
            f"(or nests more than {MAX_NESTING} deep)"
        )
    out: dict[str, torch.Tensor] = {}
    transient = record.state.get("_non_persistent_buffers_set") or ()
    if not isinstance(transient, (set, frozenset, list, tuple)):
        raise CheckpointError(f"{prefix}_non_persistent_buffers_set: a {type(transient).__name__}, not a set of names")
    for kind in ("_parameters", "_buffers"):
        for name, tensor in record.table(kind).items():
            if tensor is None or (kind == "_buffers" and name in transient):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(f"{prefix}{name}: expected a tensor, got {type(tensor).__name__}")
            out[prefix + name] = tensor.detach()
    for name, child in record.submodules().items():
        if child is not None:
            out.update(state_dict_of(child, f"{prefix}{name}.", _open + (id(record),)))
    return out
