"""What every output records about how it was made: versions, machine, command line, time."""

from __future__ import annotations

import ctypes
import datetime as _dt
import hashlib
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

import atu_ext


def provenance() -> dict:

    try:
        atu_version = version("atu")
    except PackageNotFoundError:
        atu_version = "source"
    return {
        "atu": atu_version,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # MKL picks its kernels by CPU vendor and model, so the same CPU run ends in other last bits on
        # an Intel and an AMD machine unless MKL_CBWR=COMPATIBLE pins one code path (docs/reliability.md)
        "mkl_cbwr": mkl_cbwr_branch(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        # which ops ran (compiled kernels or the plain-PyTorch references) and how they were built
        "atu_ext": atu_ext.build_info(),
        # CPU kernels split reductions by thread, so GAN runs with different thread counts drift
        # apart (±10 of 10,000 samples after stage 2): a number is reproducible only with this.
        "torch_threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def cpu_model() -> str | None:
    """The CPU's model name as the kernel reports it (Linux), else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


# MKL's conditional-numerical-reproducibility branches (mkl_cbwr.h), as mkl_cbwr_get reports them
_MKL_CBWR_BRANCHES = {
    0: "OFF",
    1: "OFF",
    2: "AUTO",
    3: "COMPATIBLE",
    4: "SSE2",
    6: "SSSE3",
    7: "SSE4_1",
    8: "SSE4_2",
    9: "AVX",
    10: "AVX2",
    12: "AVX512",
    14: "AVX512_E1",
}
_MKL_CBWR_STRICT = 0x10000


def mkl_cbwr_branch() -> str | None:
    """Which code path MKL (the BLAS of torch's x86 CPU wheels) runs under: OFF (chosen per CPU, the
    default), a pinned branch (MKL_CBWR), or None where torch has no MKL. Read from the library itself,
    because MKL maps a branch this CPU cannot take to AUTO (on AMD every branch but COMPATIBLE)."""

    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        get = ctypes.CDLL(str(library)).mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    value = get(-1)  # MKL_CBWR_ALL: the branch and the STRICT flag
    name = _MKL_CBWR_BRANCHES.get(value & ~_MKL_CBWR_STRICT, str(value & ~_MKL_CBWR_STRICT))
    return name + (",STRICT" if value & _MKL_CBWR_STRICT else "")


def file_record(path: str | os.PathLike) -> dict:
    """Which input file a result came from: its absolute path and the SHA-256 of its bytes (the path
    alone says nothing once the file is retrained or replaced)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(Path(path).resolve()), "sha256": digest.hexdigest()}
