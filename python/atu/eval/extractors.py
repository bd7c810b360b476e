"""FID's feature extractors: what the Fréchet distance is measured in.

- "classifier" (default): the judge's penultimate features. Works offline and is what the numbers
  of this project use; not comparable with published FIDs.
- "inception": the standard FID network, from one of the files users hold (the kind is detected):
  * NVlabs' TorchScript `inception-2015-12-05.pt` (stylegan2-ada-pytorch's metrics): float32 images
    [N, 3, H, W] with values 0..255, any H×W (the module resizes to 299 itself); a forward with a
    `return_features` argument is called with return_features=True (the 2048-d pool features;
    without it NVlabs' module returns class probabilities);
  * pytorch-fid's state dict `pt_inception-2015-12-05-6726825d.pth` (what the Adapt-then-Unlearn
    authors used), or torch-fidelity's file of the same weights: loaded into our own
    FIDInceptionV3 (eval/inception.py), fed as pytorch-fid feeds it (levels / 255, resized to 299).
  Either way our images in [-1, 1] are first mapped as NVlabs maps generator output to uint8
  (x·127.5 + 128, clamped, floored: the levels a saved PNG would hold) and grey images are repeated
  to 3 channels.

An extractor is loaded and probed on a tiny batch before any work, so a wrong file fails at once
with a message naming it; its `record` goes into metrics.json ("fid_features").
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import CheckpointError
from ..checkpoint.file_format import sniff_format
from ..checkpoint.torch_file import load_torch_file
from ..classifiers import feature_fn
from ..util.provenance import file_record
from .inception import is_fid_inception_state_dict, load_fid_inception

PROBE_BATCH = 2


@dataclass
class FeatureExtractor:
    features: Callable[[torch.Tensor], torch.Tensor]  # images [N, C, H, W] in [-1, 1] -> [N, D]
    record: dict  # {"kind", and for a file: "file", "sha256"}


def classifier_extractor(classifier) -> FeatureExtractor:

    return FeatureExtractor(feature_fn(classifier), {"kind": "classifier"})


def classifier_features_record(path: str | os.PathLike) -> dict:
    """The identity of a classifier's feature space, as statistics files record it: its file's sha256."""
    return {"kind": "classifier", "sha256": file_record(path)["sha256"]}


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> float32 0..255 integer levels, 3 channels (NVlabs' uint8 convention)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    x = images.to(torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x * 127.5 + 128).clamp(0, 255).floor()


def _wants_return_features(module) -> bool:
    try:
        return any(arg.name == "return_features" for arg in module.forward.schema.arguments)
    except AttributeError:  # not a scripted method: no such argument to pass
        return False


TORCHSCRIPT = "torchscript"
STATE_DICT = "pytorch-fid state dict"


def inception_file_kind(path: Path) -> str:
    """TORCHSCRIPT for a TorchScript archive (a zip holding code/ and constants.pkl), else STATE_DICT."""

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return TORCHSCRIPT
    return STATE_DICT


def load_inception(
    path: str | os.PathLike, *, resolution: int, device: str | torch.device = "cpu", option: str = "--inception"
) -> FeatureExtractor:
    """The Inception file at `path` (NVlabs' TorchScript, or pytorch-fid's / torch-fidelity's state
    dict) as an extractor, checked to give [N, D] features for a probe batch at `resolution`;
    ValueError naming `option` and the file otherwise."""
    path = Path(path)
    where = f"{option} {path}"
    if not path.is_file():
        raise ValueError(f"{where}: no such file")
    kind = inception_file_kind(path)
    forward = (
        _torchscript_forward(path, device, where) if kind == TORCHSCRIPT else _state_dict_forward(path, device, where)
    )

    @torch.no_grad()
    def features(images: torch.Tensor) -> torch.Tensor:
        return forward(to_inception_input(images).to(device))

    probe = torch.zeros(PROBE_BATCH, 3, resolution, resolution)
    try:
        out = features(probe)
    except Exception as err:  # whatever the file's code raised on a valid batch
        raise ValueError(
            f"{where}: failed on a probe batch [{PROBE_BATCH}, 3, {resolution}, {resolution}] of 0..255 floats: {err}"
        ) from err
    if (
        not isinstance(out, torch.Tensor)
        or out.ndim != 2
        or out.shape[0] != PROBE_BATCH
        or not out.is_floating_point()
        or out.shape[1] < 1
    ):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{where}: expected float features [N, D] for a batch of {PROBE_BATCH} images, got {shape}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{where}: non-finite features on a probe batch")
    return FeatureExtractor(features, {"kind": "inception", "format": kind, **_file_fields(path)})


def _torchscript_forward(path: Path, device, where: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        with warnings.catch_warnings():  # torch 2.13 calls TorchScript deprecated; the FID network ships as one
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device).eval()
    except Exception as err:  # torch.jit.load raises RuntimeError/ValueError/pickle errors
        raise ValueError(f"{where}: not a TorchScript module that torch.jit.load can read ({err})") from err
    kwargs = {"return_features": True} if _wants_return_features(module) else {}
    return lambda levels: module(levels, **kwargs)


def _state_dict_forward(path: Path, device, where: str) -> Callable[[torch.Tensor], torch.Tensor]:

    # atu's torch-file reader: weights_only with its allow-list, storages and views bounded by what the
    # file holds, zip records checked against their CRC-32 (checkpoint/torch_file.py)
    try:
        state = load_torch_file(path, sniff_format(path))
    except CheckpointError as err:  # not a torch file, or one that needs more than tensors
        raise ValueError(
            f"{where}: neither a TorchScript module nor a state dict atu can read "
            f"({str(err).replace(str(path) + ': ', '')})"
        ) from err
    if not is_fid_inception_state_dict(state):
        raise ValueError(
            f"{where}: a torch file, but not the FID Inception's weights (expected NVlabs' TorchScript "
            "inception-2015-12-05.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth)"
        )
    try:
        model = load_fid_inception(state).to(device)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    return lambda levels: model(levels / 255.0)


def _file_fields(path: Path) -> dict:
    record = file_record(path)
    return {"file": record["path"], "sha256": record["sha256"]}
