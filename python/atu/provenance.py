"""What every output records about how it was made: versions, machine, command line, time."""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from pathlib import Path

import torch

import atu_ext


def provenance() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        atu_version = version("atu")
    except PackageNotFoundError:
        atu_version = "source"
    return {
        "atu": atu_version,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        # which ops ran (compiled kernels or the plain-PyTorch references) and how they were built
        "atu_ext": atu_ext.build_info(),
        # CPU kernels split reductions by thread, so GAN runs with different thread counts drift
        # apart (±10 of 10,000 samples after stage 2): a number is reproducible only with this.
        "torch_threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def file_record(path: str | os.PathLike) -> dict:
    """Which input file a result came from: its absolute path and the SHA-256 of its bytes (the path
    alone says nothing once the file is retrained or replaced)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(Path(path).resolve()), "sha256": digest.hexdigest()}
