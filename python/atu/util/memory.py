"""Memory: out-of-memory errors told apart from other failures (torch reports them as MemoryError,
as torch.OutOfMemoryError (CUDA) or as a RuntimeError of its CPU allocator, each with its own text),
and the memory a device has free, for refusing before any work what cannot fit."""

from __future__ import annotations

import re
import subprocess
import sys

_ALLOCATION = re.compile(r"(?:tried to allocate|allocate)\s+([\d.]+)\s*(bytes|[KMGT]iB|B)?", re.IGNORECASE)
_MARKERS = ("can't allocate memory", "out of memory", "cannot allocate memory")
_UNITS = {"bytes": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def out_of_memory(err: BaseException) -> str | None:
    """None unless `err` is an allocation that failed; else what it tried to allocate, in words
    ("4.0 GiB"), or "" when the error does not say."""
    name = type(err).__name__
    text = str(err)
    if not (
        isinstance(err, MemoryError)
        or name == "OutOfMemoryError"
        or (isinstance(err, RuntimeError) and any(m in text.lower() for m in _MARKERS))
    ):
        return None
    found = _ALLOCATION.search(text)
    if found is None:
        return ""
    amount = float(found.group(1)) * _UNITS.get((found.group(2) or "bytes").lower(), 1)
    return f"{amount / 2**30:.1f} GiB" if amount >= 2**30 else f"{amount / 2**20:.0f} MiB"


def available_bytes(device) -> int | None:
    """Memory free for new allocations on `device` (MemAvailable on a Linux CPU, the CUDA driver's
    free memory on a GPU); None where it cannot be read."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# A child that execs keeps its parent's peak as its own (the kernel carries the old address space's
# high-water mark into the new one), so a command is started from a small Python of its own, whose
# peak is far below any command's, and its peak read there.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    proc = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)\n"
    "    _, status, usage = os.wait4(proc.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def run_measuring_peak(command: list[str], log) -> tuple[int, int]:
    """Runs `command` (its output into the file `log`); returns its exit status and its own peak
    resident memory in bytes (Linux)."""
    run = subprocess.run([sys.executable, "-c", _LAUNCHER, str(log), *command], capture_output=True, text=True)
    status, kilobytes = map(int, run.stdout.split())
    return status, kilobytes * 1024  # ru_maxrss is in kilobytes on Linux
