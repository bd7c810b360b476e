"""The dataset type every loader returns: images in [-1, 1], 3 channels, square, optional labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class ImageDataset(torch.utils.data.Dataset):
    """Images as float32 [3, R, R] in [-1, 1] (StyleGAN2's range) with an integer label each.

    `fetch(i)` returns image i of the *source*; `indices` selects which source images this dataset
    holds (exclusion and splits only narrow `indices`, so nothing is copied). `labels` are class ids
    (digits) or 0/1 for a binary attribute; -1 where the source has none.
    """

    def __init__(
        self,
        fetch: Callable[[int], torch.Tensor],
        labels: torch.Tensor,
        *,
        name: str,
        resolution: int,
        info: dict[str, Any],
        indices: torch.Tensor | None = None,
        attributes: dict[str, torch.Tensor] | None = None,
    ):
        self._fetch = fetch
        self._all_labels = labels.to(torch.int64)
        self.indices = torch.arange(len(labels)) if indices is None else indices.to(torch.int64)
        self.name, self.resolution, self.info = name, resolution, dict(info)
        self._attributes = attributes or {}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        return self._fetch(j), int(self._all_labels[j])

    @property
    def labels(self) -> torch.Tensor:
        return self._all_labels[self.indices]

    def attribute(self, name: str) -> torch.Tensor:
        """0/1 values of a binary attribute (folder data with an attribute file) for every image held."""
        if name not in self._attributes:
            raise KeyError(f"{self.name}: no attribute {name!r}; known: {sorted(self._attributes) or 'none'}")
        return self._attributes[name][self.indices]

    @property
    def attribute_names(self) -> list[str]:
        return sorted(self._attributes)

    def images(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """A batch [n, 3, R, R] of the images at these positions (all when None)."""
        idx = range(len(self)) if indices is None else indices
        return (
            torch.stack([self[int(i)][0] for i in idx])
            if len(idx)
            else torch.empty(0, 3, self.resolution, self.resolution)
        )

    def subset(self, positions: torch.Tensor, **info: Any) -> ImageDataset:
        """The images at these positions of this dataset (positions, not source indices)."""
        return ImageDataset(
            self._fetch,
            self._all_labels,
            name=self.name,
            resolution=self.resolution,
            info={**self.info, **info},
            indices=self.indices[positions.to(torch.int64)],
            attributes=self._attributes,
        )

    def relabelled(self, labels: torch.Tensor, **info: Any) -> ImageDataset:
        """The same images with `labels` (one per image held, in order) as their labels."""
        if labels.shape != (len(self),):
            raise ValueError(f"{self.name}: {tuple(labels.shape)} labels for {len(self)} images")
        all_labels = torch.full_like(self._all_labels, -1)
        all_labels[self.indices] = labels.to(torch.int64)
        return ImageDataset(
            self._fetch,
            all_labels,
            name=self.name,
            resolution=self.resolution,
            info={**self.info, **info},
            indices=self.indices,
            attributes=self._attributes,
        )

    def describe(self) -> dict[str, Any]:
        """What a run records about its data: enough to know which images were seen."""
        labels = self.labels
        counts = {int(c): int(n) for c, n in zip(*torch.unique(labels, return_counts=True))} if len(labels) else {}
        return {
            "name": self.name,
            "resolution": self.resolution,
            "n_images": len(self),
            "label_counts": counts,
            **self.info,
        }
