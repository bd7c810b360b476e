"""The globals (module.name) a pickle would import, read from its opcodes without executing any.

Used to refuse a checkpoint with a message that names what it would have run. It is not the
safety barrier: torch.load(weights_only=True) is, and stays in place whatever this scan reports
(a crafted stream can hide a name from a scan that does not execute it, never from the unpickler).
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import BinaryIO

_PUSHES_A_STRING = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
# torch.save without zip writes five pickles (magic number, protocol, system info, the object,
# storage keys) followed by raw storage bytes.
_PICKLES_IN_LEGACY_TORCH_FILE = 5
# A torch zip archive's data.pkl describes the tensors, whose bytes are separate records: kilobytes
# for a StyleGAN2 at any size. Anything near this is not a checkpoint (or a compressed bomb).
MAX_PICKLE_MEMBER = 64 * 2**20


def globals_in_pickle(stream: BinaryIO) -> list[str]:
    """Every global one pickle (read up to its STOP) imports, in order. ValueError if it is cut short."""
    found: list[str] = []
    memo: dict[int, object] = {}
    pushed: list[object] = []  # recent stack pushes: the string, or None for anything else
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name in ("GLOBAL", "INST"):  # arg is "module qualname"
            found.append(arg.replace(" ", "."))
            pushed.append(None)
        elif name == "STACK_GLOBAL":  # module and qualname are the two strings below
            module, qualname = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
            ok = isinstance(module, str) and isinstance(qualname, str)
            found.append(f"{module}.{qualname}" if ok else "<a global whose name is computed>")
            pushed.append(None)
        elif name in _PUSHES_A_STRING:
            pushed.append(arg)
        elif name in _MEMO_GET:
            pushed.append(memo.get(arg))
        elif name in _MEMO_PUT:
            memo[arg] = pushed[-1] if pushed else None
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif opcode.stack_after:
            pushed.append(None)
    return found


def globals_in_file(path: Path, zip_archive: bool) -> list[str]:
    """The globals of every pickle in a torch zip archive (its *.pkl members) or a pickle file
    (up to the five of a legacy torch.save). zipfile.BadZipFile / ValueError for damaged files."""
    found: list[str] = []
    if zip_archive:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".pkl"):
                    if info.file_size > MAX_PICKLE_MEMBER:
                        raise ValueError(
                            f"its {info.filename[:80]} would expand to {info.file_size:,} bytes; a "
                            f"checkpoint's pickle is under {MAX_PICKLE_MEMBER:,} (its tensors are "
                            "stored beside it)"
                        )
                    found += globals_in_pickle(io.BytesIO(archive.read(info)))
        return found
    with open(path, "rb") as fh:
        for _ in range(_PICKLES_IN_LEGACY_TORCH_FILE):
            start = fh.tell()
            if fh.read(1) != b"\x80":  # no further pickle: end of file or raw storage bytes
                break
            fh.seek(start)
            found += globals_in_pickle(fh)
    return found
