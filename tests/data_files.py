"""Writers for small on-disk datasets used by the data and classifier tests (IDX files, image folders
with CelebA-format attribute tables). They follow the formats' specifications, not atu's readers."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """IDX: two zero bytes, type 0x08 (unsigned byte), rank, big-endian uint32 dims, raw data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def write_mnist(
    folder: Path, images: np.ndarray, labels: np.ndarray, *, split: str = "train", compress: bool = False
) -> None:
    prefix = "train" if split == "train" else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress=compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress=compress)


def write_attribute_folder(
    folder: Path,
    rows: dict[str, dict[str, int]],
    *,
    size: int = 32,
    csv: bool = False,
    brightness_from: str | None = None,
) -> Path:
    """PNG images named by `rows` plus an attribute table; returns the table's path.

    rows: {file name: {attribute: 0/1}}. With `brightness_from`, images with that attribute are
    bright and the others dark (with a little texture), so the attribute is learnable.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = list(next(iter(rows.values())))
    for name, attrs in rows.items():
        base = 200 if brightness_from and attrs[brightness_from] else 50
        pixels = np.clip(base + rng.integers(-30, 31, size=(size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / name)
    if csv:
        table = folder / "list_attr.csv"
        lines = ["image_id," + ",".join(names)] + [
            f"{f}," + ",".join(str(a[n]) for n in names) for f, a in rows.items()
        ]
    else:  # CelebA's text format: count line, names line, then values as 1 / -1
        table = folder / "list_attr.txt"
        lines = [str(len(rows)), " ".join(names)] + [
            f + " " + " ".join("1" if a[n] else "-1" for n in names) for f, a in rows.items()
        ]
    table.write_text("\n".join(lines) + "\n")
    return table
