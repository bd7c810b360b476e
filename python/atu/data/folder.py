"""Any folder of images (e.g. CelebA-HQ), read lazily, center-cropped to a square and resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .attributes import read_attributes
from .dataset import ImageDataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def _to_tensor(path: Path, resolution: int) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != resolution:
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1


def load_folder(
    folder: str | Path, resolution: int, attributes_file: str | Path | None = None, label_attribute: str | None = None
) -> ImageDataset:
    """Images of `folder` (sorted by name). With an attributes file, only the images it lists are kept and
    each attribute is available; `label_attribute` makes that attribute (0/1) the label."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder:{folder}: not a folder")
    found = {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not found:
        raise ValueError(f"folder:{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    attributes: dict[str, torch.Tensor] = {}
    if attributes_file is not None:
        names, table = read_attributes(attributes_file)
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(
                f"folder:{folder}: {len(missing)} images listed in {attributes_file} are missing, e.g. {missing[:3]}"
            )
        paths = [found[n] for n in names]
        attributes = table
    else:
        paths = list(found.values())
    if label_attribute is not None:
        if label_attribute not in attributes:
            raise KeyError(
                f"folder:{folder}: no attribute {label_attribute!r} "
                f"({'no attributes file given' if not attributes else 'known: ' + ', '.join(sorted(attributes))})"
            )
        labels = attributes[label_attribute]
    else:
        labels = torch.full((len(paths),), -1, dtype=torch.int64)
    return ImageDataset(
        lambda i: _to_tensor(paths[i], resolution),
        labels,
        name="folder",
        resolution=resolution,
        attributes=attributes,
        info={
            "source": str(folder),
            "attributes_file": str(attributes_file) if attributes_file else None,
            "label_attribute": label_attribute,
            "preprocessing": f"center square crop, Lanczos resize to {resolution}, [0,255] -> [-1,1]",
        },
    )
