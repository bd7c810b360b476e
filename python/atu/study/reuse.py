"""Whether a feature's stored evaluation still holds, so a resumed study does not judge again what it
judged before it stopped (at 256 px and above, minutes per model).

An evaluation (metrics.json, attack.json) records `evaluation_key`: a digest of everything it read —
the study's configuration, the bytes of every file the configuration names (generator, classifiers,
judges, Inception weights; a folder of data by its listing), the bytes of every model it judged, and
atu's version. A stored result is kept only when its key equals the one computed now; any change
(a seed or method added, a model retrained, an input file replaced, another atu) makes it stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..util.atomic import write_text
from ..util.provenance import file_record, provenance
from .config import StudyConfig
from .inputs import model_files

KEY = "evaluation_key"
_FOLDER = "folder:"  # the data spec of an image folder (study/features.data_spec)


def evaluation_key(cfg: StudyConfig, fdir: Path) -> str:
    """The digest a feature's evaluation in `fdir` records and is kept by (module docstring)."""
    config = cfg.to_dict()
    named = {value: _digest_of(value) for value in sorted(_strings(config))}
    record = {
        "config": config,
        "named": {value: digest for value, digest in named.items() if digest},
        "models": {
            name: {str(seed): _digest_of(str(path)) for seed, path in per_seed.items()}
            for name, per_seed in model_files(cfg, fdir).items()
        },
        "atu": provenance()["atu"],
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def store_result(path: Path, result: dict, key: str) -> None:
    """Writes an evaluation's result with its key, atomically (a stopped write leaves none)."""
    write_text(path, json.dumps({**result, KEY: key}, indent=2))


def stored_result(path: Path, key: str) -> dict | None:
    """The result stored at `path` if it records `key`; None if it is missing, unreadable or stale."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and stored.get(KEY) == key else None


def _strings(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return {value} if isinstance(value, str) else set()


def _digest_of(value: str) -> str | None:
    """The SHA-256 of the file a configuration string names; for a `folder:` data spec the digest of
    the folder's listing (each file's relative path, size and modification time: hashing a
    dataset's bytes could cost more than judging it); None where it names nothing on disk."""
    if not value.startswith(_FOLDER):
        return file_record(value)["sha256"] if Path(value).is_file() else None
    path = Path(value[len(_FOLDER) :])
    if not path.is_dir():
        return None
    listing = hashlib.sha256()
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            stat = (Path(root) / name).stat()
            listing.update(f"{Path(root, name).relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return listing.hexdigest()
