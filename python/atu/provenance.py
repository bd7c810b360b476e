"""What every output records about how it was made: versions, machine, command line, time."""
from __future__ import annotations

import datetime as _dt
import platform
import sys

import torch


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
        "command": " ".join(sys.argv),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
