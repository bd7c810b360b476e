"""The two ways a checkpoint reader speaks up: an error that stops, a warning that reports."""

from __future__ import annotations

import pickle

from ..util.errors import InputError


class CheckpointError(InputError):
    """A checkpoint file that cannot be read as asked (missing, truncated, corrupt, unsafe, wrong kind).

    The message always names the file, so that a batch job over many checkpoints says which one failed."""


class CheckpointWarning(UserWarning):
    """Something in a checkpoint was read but not used, or disagrees with the rest (e.g. extra
    entries that are not model weights, or saved arguments that contradict the tensors)."""


# What unpickling a truncated or corrupt (or hostile) stream raises, beyond the readers' own errors:
# each reader turns these into a CheckpointError that names the file and what failed.
MALFORMED_PICKLE = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    RecursionError,
    MemoryError,
    OverflowError,
    UnicodeError,
)
