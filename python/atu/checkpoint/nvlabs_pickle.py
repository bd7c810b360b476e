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
A network's parameters and buffers are then read off the records' nested state (`state_dict_of`),
which is what the mapping to atu's models consumes.
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

import torch

from .errors import CheckpointError

RECONSTRUCT = ("torch_utils.persistence", "_reconstruct_persistent_obj")
PERSISTENCE_VERSION = 6          # the only format version NVlabs' persistence.py has written


@dataclass
class PersistentRecord:
    """What a persistent object's pickle says about it, as data: nothing of it is executed."""
    class_name: str
    version: int
    source_sha256: str           # of the module source the pickle carries (kept to identify it, never run)
    state: dict[str, Any] = field(default_factory=dict)

    def submodules(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})


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
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


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
    import numpy as np

    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise CheckpointError("refused: a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=np.dtype(dtype.byteorder + dtype.code), count=1)[0].item()


_ALLOWED = {
    RECONSTRUCT: _record,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy", "dtype"): _NumpyDType,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,        # numpy 1.x
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,       # numpy 2.x
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(f"refused: the pickle needs {module}.{name}, which is not part of an NVlabs "
                                  "network pickle atu reads; nothing from the file was run") from None

    def persistent_load(self, pid):
        raise CheckpointError("refused: the pickle refers to external persistent objects")


def is_nvlabs_pickle(globals_named: list[str]) -> bool:
    """Whether a pickle's globals (pickle_scan) mark it as an NVlabs persistence pickle."""
    return ".".join(RECONSTRUCT) in globals_named


def is_nvlabs_file(path: str | os.PathLike) -> bool:
    """Whether a pickle file is an NVlabs persistence pickle, from its opcodes (nothing is run)."""
    from .pickle_scan import globals_in_pickle

    try:
        with open(path, "rb") as fh:
            return is_nvlabs_pickle(globals_in_pickle(fh))
    except (ValueError, EOFError, OSError):
        return False              # damaged: the torch-file reader reports it


def read_network_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The pickle's top-level dict ({"G": ..., "D": ..., "G_ema": ..., "training_set_kwargs": ...}),
    networks as PersistentRecords. CheckpointError for anything else or anything unsafe."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            top = _RestrictedUnpickler(fh).load()
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            RuntimeError, RecursionError) as err:
        raise CheckpointError(f"{path}: not a readable NVlabs network pickle (truncated or corrupt?): "
                              f"{type(err).__name__}: {str(err)[:200]}") from None
    if not isinstance(top, dict):
        raise CheckpointError(f"{path}: an NVlabs network pickle holds a dict of networks, this one a {type(top).__name__}")
    return top


def state_dict_of(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every parameter and buffer of a network record and its submodules, under the dotted names
    torch's state_dict() would give them (non-persistent buffers left out, as state_dict does)."""
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{prefix or 'the network'}: expected a network, got {type(record).__name__}")
    out: dict[str, torch.Tensor] = {}
    state = record.state
    transient = set(state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (state.get(kind) or {}).items():
            if tensor is None or (kind == "_buffers" and name in transient):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(f"{prefix}{name}: expected a tensor, got {type(tensor).__name__}")
            out[prefix + name] = tensor.detach()
    for name, child in record.submodules().items():
        if child is not None:
            out.update(state_dict_of(child, f"{prefix}{name}."))
    return out

