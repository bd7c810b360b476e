"""Judges: which images hold the feature to remove.

A judge answers, per image, "does it hold the feature?", wherever atu marks or counts the feature
(feedback, PUL and the feature ratio, a second judge's count, the output filter). Three kinds:
- a class of a classifier (a digit, "8"): its predicted class, or with a threshold P its
  probability of the class at least P (atu feedback's cautious rule);
- an attribute or feature classifier: class 1 of a two-class classifier trained with
  `atu train-classifier --attribute` or `--feature` (a ClassJudge like the first);
- a measurement with a threshold (data/features.py): `thickness:top10` holds for a digit whose
  stroke thickness is at or above the 90th percentile of the real training digits'.
Each says what identifies it (`record()`: the classifier's file and sha256, or the measure, the
threshold and the data it was taken over) for run.json and metrics.json.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..data import load_dataset
from ..data.features import MeasuredFeature, dataset_measurements
from ..data.morphometrics import measure
from ..util.provenance import file_record
from .classes import label_names, resolve_class
from .inference import marked, predict


class Judge(ABC):
    """Decides which images hold the feature."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The feature as a report names it ("8", "Eyeglasses", "thickness:top10")."""

    @abstractmethod
    def holds(self, images: torch.Tensor) -> torch.Tensor:
        """bool [N] on the CPU: which of the images [N, C, H, W] (in [-1, 1]) hold the feature."""

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """What identifies the judge, for the records of the runs it judged."""

    def to(self, device: str | torch.device) -> Judge:
        """The judge with its network (if any) on `device`; itself."""
        return self


@dataclass
class ClassJudge(Judge):
    """Class `undesired` of `classifier`: predicted (threshold None) or with p(class) >= threshold."""

    classifier: nn.Module
    undesired: int
    threshold: float | None = None
    file: str | os.PathLike | None = None  # where the classifier was read from, for the record

    @classmethod
    def of(cls, classifier: nn.Module, undesired: int | str, **kwargs: Any) -> ClassJudge:
        """The judge of a class named by number or label name (ValueError listing the valid ones)."""
        return cls(classifier, resolve_class(classifier, undesired), **kwargs)

    @property
    def name(self) -> str:
        return label_names(self.classifier)[self.undesired]

    def to(self, device: str | torch.device) -> ClassJudge:
        self.classifier.to(device)
        return self

    def holds(self, images: torch.Tensor) -> torch.Tensor:
        if self.threshold is None:
            return predict(self.classifier, images) == self.undesired
        return marked(self.classifier, images, self.undesired, self.threshold).cpu()

    def record(self) -> dict[str, Any]:
        return {
            "kind": "class",
            "class": self.undesired,
            "label": self.name,
            "threshold": self.threshold,
            "classifier": file_record(self.file) if self.file is not None else None,
        }


@dataclass
class MeasureJudge(Judge):
    """A measured feature beyond a threshold (`MeasuredFeature.holds`)."""

    feature: MeasuredFeature
    threshold: float
    reference: dict[str, Any] = field(default_factory=dict)  # where the threshold was measured

    @classmethod
    def over(cls, spec: str | MeasuredFeature, data: str, resolution: int) -> MeasureJudge:
        """The judge of `spec` (MEASURE:topP|bottomP) with its threshold taken over the real images
        of `data` (a data spec: mnist, digits, mnist:DIR) at `resolution`, the generator's."""
        feature = spec if isinstance(spec, MeasuredFeature) else MeasuredFeature.parse(spec)
        dataset = load_dataset(data, resolution=resolution)
        values = dataset_measurements(dataset)[feature.measure]
        return cls(feature, feature.threshold(values), {"data": data, "resolution": resolution, "n": len(dataset)})

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> MeasureJudge:
        """The judge a `record()` describes (as a feedback bundle stores its labeller)."""
        reference = {key: record[key] for key in ("data", "resolution", "n") if key in record}
        return cls(MeasuredFeature.parse(record["feature"]), float(record["threshold"]), reference)

    @property
    def name(self) -> str:
        return self.feature.name

    def holds(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature.holds(measure(images)[self.feature.measure], self.threshold)

    def record(self) -> dict[str, Any]:
        return {"kind": "measure", "feature": self.feature.name, "threshold": self.threshold, **self.reference}
