"""Measured features: "the images whose MEASURE lies in the top (or bottom) P% of the real training
images", named `MEASURE:topP` or `MEASURE:bottomP` (`thickness:top10` is Moon et al.'s thick strokes).

A feature's threshold is a percentile of the measurement over a reference dataset, the real images a
generator was trained on, at the resolution the generator draws (a measurement in pixels depends on
it); it is computed once per dataset and kept in atu's cache, so judging generated images against it
costs only their own measurement.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from .dataset import ImageDataset
from .morphometrics import MEASURES, measure

_SPEC = re.compile(r"^(?P<measure>[a-z_]+):(?P<side>top|bottom)(?P<percent>[0-9]+(?:\.[0-9]+)?)$")
_CHUNK = 500  # digits per task of the measuring pool
MEASUREMENT_VERSION = 1  # bump when measure() changes what it returns: old caches are then ignored


@dataclass(frozen=True)
class MeasuredFeature:
    """The top or bottom `percent`% of images by `measure` (one of morphometrics.MEASURES)."""

    measure: str
    side: str  # "top" | "bottom"
    percent: float

    def __post_init__(self):
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}: expected one of {', '.join(MEASURES)}")
        if self.side not in ("top", "bottom"):
            raise ValueError(f"side must be 'top' or 'bottom', got {self.side!r}")
        if not 0 < self.percent <= 50:
            raise ValueError(f"the percentage of a measured feature must lie in (0, 50], got {self.percent:g}")

    @classmethod
    def parse(cls, spec: str) -> MeasuredFeature:
        """'thickness:top10' -> MeasuredFeature('thickness', 'top', 10.0); a clear ValueError otherwise."""
        match = _SPEC.match(spec.strip())
        if match is None:
            raise ValueError(
                f"bad feature {spec!r}: expected MEASURE:topP or MEASURE:bottomP with MEASURE one of "
                f"{', '.join(MEASURES)} and P a percentage in (0, 50], e.g. thickness:top10"
            )
        return cls(match["measure"], match["side"], float(match["percent"]))

    @property
    def name(self) -> str:
        return f"{self.measure}:{self.side}{self.percent:g}"

    def threshold(self, reference: torch.Tensor) -> float:
        """The measurement at which the feature begins: the (100 − P)th percentile of the reference
        values for top P%, the Pth for bottom P%."""
        q = 1 - self.percent / 100 if self.side == "top" else self.percent / 100
        return float(torch.quantile(reference.to(torch.float64), q))

    def holds(self, values: torch.Tensor, threshold: float) -> torch.Tensor:
        """bool [N]: which measured values carry the feature (at or beyond the threshold)."""
        return values >= threshold if self.side == "top" else values <= threshold


def _cache_root() -> Path:
    if os.environ.get("ATU_CACHE"):
        return Path(os.environ["ATU_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "atu"


def _measure_chunk(images: torch.Tensor) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)  # one process per core
    return measure(images)


def measure_all(images: torch.Tensor, processes: int = 1) -> dict[str, torch.Tensor]:
    """measure() over many images, in chunks over `processes` worker processes."""
    chunks = list(torch.split(images, _CHUNK))
    if processes <= 1 or len(chunks) <= 1:
        parts = [measure(chunk) for chunk in chunks]
    else:
        with get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_measure_chunk, chunks)
    return {name: torch.cat([p[name] for p in parts]) for name in MEASURES}


def dataset_measurements(data: ImageDataset, processes: int | None = None) -> dict[str, torch.Tensor]:
    """{measure: float64 [len(data)]} of every image of `data`, from the cache when it was measured
    before (keyed by the dataset's description, the images it holds and the measurement's version)."""
    key = json.dumps(
        {"data": data.describe(), "indices": hashlib.sha256(data.indices.numpy().tobytes()).hexdigest()},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(f"{MEASUREMENT_VERSION}:{key}".encode()).hexdigest()[:20]
    path = _cache_root() / "morphometrics" / f"{data.name}-{data.resolution}px-{digest}.pt"
    if path.is_file():
        cached = torch.load(path, weights_only=True)
        if set(cached) == set(MEASURES) and all(len(v) == len(data) for v in cached.values()):
            return cached
    values = measure_all(data.images(), processes or os.cpu_count() or 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(values, partial)
    partial.replace(path)
    return values


def labelled_by_feature(
    data: ImageDataset, feature: MeasuredFeature, threshold: float | None = None
) -> tuple[ImageDataset, float]:
    """(`data` labelled 1 where the feature holds and 0 elsewhere, the threshold used): the data a
    feature's judge is trained on. `threshold` None takes it from `data` itself (its training
    images); a test split passes the training data's threshold."""
    values = dataset_measurements(data)[feature.measure]
    if threshold is None:
        threshold = feature.threshold(values)
    holds = feature.holds(values, threshold)
    record = {"feature": feature.name, "threshold": threshold, "n_with_feature": int(holds.sum())}
    return data.relabelled(holds.to(torch.int64), labelled_by_feature=record), threshold


def feature_label_names(feature: MeasuredFeature) -> list[str]:
    """The class names of a feature's judge: 0 the rest, 1 the feature (so `--class thickness:top10`)."""
    return [f"not {feature.name}", feature.name]
