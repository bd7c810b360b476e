"""Real-data reference statistics, computed once and reused: what FID, KID and precision/recall
need of the real images, in one feature space.

A statistics file (.npz, numpy's archive; no pickle) holds
  mu      float64 [D]      the features' mean over every real image
  sigma   float64 [D, D]   their covariance (n − 1)
  rows    float32 [n, D]   the features of a seeded subset of the images: KID's and P/R's real set
  record  text (JSON)      the extractor (as metrics.json's fid_features), the data spec, the
                           excluded classes or attribute, the image count, n_fid and the seed
pytorch-fid's statistics files (mu and sigma only) read too: FID then uses them and KID and
precision/recall are missing, and since such a file says nothing of its features, it is accepted
only with an Inception extractor.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..util import distributed
from ..util.atomic import write_with
from .fid import FeatureMoments

REAL_BATCH = 256


def _shard() -> tuple[int, int]:
    return distributed.rank(), distributed.world_size()


def image_statistics(extractor, images: torch.Tensor):
    """Feature mean and covariance of real images (this rank's batches, summed over ranks)."""
    rank, world = _shard()
    moments = FeatureMoments()
    for b, start in enumerate(range(0, images.shape[0], REAL_BATCH)):
        if b % world == rank:
            moments.add(extractor.features(images[start : start + REAL_BATCH]))
    return moments.over_ranks().statistics()


def real_feature_rows(extractor, images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Features of a seeded subset of min(n, N) real images: the reference set of KID and P/R
    (all of a large dataset would not fit, and FID's moments already use every image)."""
    chosen = images[torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]]
    rank, world = _shard()
    parts = [
        (start, extractor.features(chosen[start : start + REAL_BATCH]))
        for b, start in enumerate(range(0, chosen.shape[0], REAL_BATCH))
        if b % world == rank
    ]
    return distributed.assemble_rows(parts, chosen.shape[0])


@dataclass
class ReferenceStats:
    mu: torch.Tensor
    sigma: torch.Tensor
    rows: torch.Tensor | None
    record: dict | None  # None for a pytorch-fid file

    def check_fits(self, extractor_record: dict, resolution: int, undesired_class: int, where: str) -> None:
        """ValueError unless these statistics were computed in the extractor's feature space, at this
        resolution and without the undesired class (FID's real data leaves it out)."""
        if self.record is None:
            if extractor_record.get("kind") != "inception":
                raise ValueError(
                    f"{where}: a statistics file without a record (pytorch-fid's) is in Inception "
                    "features; pass --inception FILE to measure in them"
                )
            return
        theirs = self.record.get("extractor", {})
        if {k: theirs.get(k) for k in ("kind", "sha256")} != {k: extractor_record.get(k) for k in ("kind", "sha256")}:
            raise ValueError(
                f"{where}: computed in other features ({_describe(theirs)}) than this evaluation's "
                f"({_describe(extractor_record)}); recompute it with atu fid-stats"
            )
        if self.record.get("resolution") != resolution:
            raise ValueError(
                f"{where}: computed at {self.record.get('resolution')} px, the generator makes {resolution} px"
            )
        if undesired_class not in self.record.get("excluded_classes", []) and not self.record.get("excluded_attribute"):
            raise ValueError(
                f"{where}: its images still hold class {undesired_class} (FID's real data leaves the "
                f"undesired class out); atu fid-stats --exclude-class {undesired_class}"
            )


def _describe(record: dict) -> str:
    if record.get("kind") == "classifier":
        return f"classifier {record.get('sha256', '?')[:12]}"
    return f"{record.get('kind')} {str(record.get('sha256', '?'))[:12]}"


def reference_from_images(extractor, images: torch.Tensor, *, n_fid: int, seed: int) -> ReferenceStats:
    """The statistics `atu evaluate` computes from real images itself: moments over all of them, the
    rows of the seeded subset of n_fid (evaluation seed + 2, as evaluate draws it)."""
    mu, sigma = image_statistics(extractor, images)
    return ReferenceStats(mu, sigma, real_feature_rows(extractor, images, n_fid, seed + 2), None)


def save_stats(path: str | os.PathLike, stats: ReferenceStats) -> None:
    arrays = {
        "mu": stats.mu.double().numpy(),
        "sigma": stats.sigma.double().numpy(),
        "record": np.array(json.dumps(stats.record)),
    }
    if stats.rows is not None:
        arrays["rows"] = stats.rows.float().numpy()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)

    write_with(path, write)


# What a statistics file may hold once read: sigma at 2048 Inception features is 32 MiB, rows for
# 50,000 images 400 MiB. A compressed archive claiming more is refused before it is expanded.
MAX_EXPANDED_BYTES = 2 * 2**30
MAX_RECORD_CHARS = 1_000_000
# sigma is a covariance: symmetric and positive semi-definite up to rounding (np.cov's rounding
# leaves eigenvalues a few 1e-12 of the largest below zero; a broken file misses by far more).
COVARIANCE_TOLERANCE = 1e-6


def _check_expanded_size(path: Path, label: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ValueError(f"{label}: not a numpy .npz archive (truncated or corrupt?)") from None
    if expanded > MAX_EXPANDED_BYTES:
        raise ValueError(
            f"{label}: its arrays would expand to {expanded:,} bytes (over {MAX_EXPANDED_BYTES:,}); "
            "not a statistics file"
        )


def _check_covariance(mu: np.ndarray, sigma: np.ndarray, label: str) -> None:
    """sigma is a covariance matrix and mu a mean whose FID terms stay finite: a file that is neither
    would otherwise give any FID, down to 0 for every model."""
    scale = float(np.abs(sigma).max()) if sigma.size else 0.0
    if not np.isfinite(float(np.square(mu).sum()) + float(np.trace(sigma))):
        raise ValueError(f"{label}: mu or sigma is too large for FID to be finite")
    if scale and float(np.abs(sigma - sigma.T).max()) > COVARIANCE_TOLERANCE * scale:
        raise ValueError(f"{label}: sigma is not symmetric; it is not a covariance matrix")
    lowest, highest = (float(v) for v in np.linalg.eigvalsh((sigma + sigma.T) / 2)[[0, -1]]) if scale else (0.0, 0.0)
    if lowest < -COVARIANCE_TOLERANCE * max(highest, 0.0) or (scale and highest <= 0):
        raise ValueError(
            f"{label}: sigma has a negative eigenvalue ({lowest:.3g}, largest {highest:.3g}); it is not "
            "a covariance matrix"
        )


def load_stats(path: str | os.PathLike, *, where: str = "--real-stats") -> ReferenceStats:
    """A statistics file, checked (shapes, finiteness); ValueError naming `where` and the file."""
    path = Path(path)
    label = f"{where} {path}"
    if not path.is_file():
        raise ValueError(f"{label}: no such file")
    _check_expanded_size(path, label)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        raise ValueError(f"{label}: not a numpy .npz archive without pickles ({type(err).__name__})") from None
    if "mu" not in arrays or "sigma" not in arrays:
        raise ValueError(f"{label}: no mu and sigma in it (found {sorted(arrays)[:6]})")
    for name in ("mu", "sigma", "rows"):
        if name in arrays and arrays[name].dtype.kind not in "fiu":
            raise ValueError(f"{label}: {name} holds {arrays[name].dtype} values, not numbers")
    mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{label}: mu {mu.shape} and sigma {sigma.shape} are not [D] and [D, D]")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{label}: mu or sigma holds NaN or infinite values")
    _check_covariance(mu, sigma, label)
    rows = arrays.get("rows")
    if rows is not None and (rows.ndim != 2 or rows.shape[1] != mu.shape[0] or not np.isfinite(rows).all()):
        raise ValueError(f"{label}: rows {rows.shape} are not finite [n, {mu.shape[0]}] features")
    record = None
    if "record" in arrays:
        text = str(arrays["record"])
        if arrays["record"].dtype.kind != "U" or len(text) > MAX_RECORD_CHARS:
            raise ValueError(f"{label}: its record is not a JSON text of at most {MAX_RECORD_CHARS:,} characters")
        try:
            record = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError(f"{label}: its record is not JSON (or nested past any record's depth)") from None
        if not isinstance(record, dict):
            raise ValueError(f"{label}: its record is not a mapping")
    return ReferenceStats(
        torch.from_numpy(mu.astype(np.float64)),
        torch.from_numpy(sigma.astype(np.float64)),
        None if rows is None else torch.from_numpy(rows.astype(np.float32)),
        record,
    )
