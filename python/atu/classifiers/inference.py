"""Running a trained classifier on images: labels, probabilities and FID features, in batches.

Images are resized to the resolution the classifier was trained at (bilinear, antialiased when
shrinking): a 32-px digit classifier then judges 28-px MNIST or 64-px samples on the scale it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageDataset
from ..util.errors import NonFiniteOutputError

Images = torch.Tensor | ImageDataset


def prepare(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A batch [N, C, H, W] moved to the model's device, float32, at the model's training resolution."""
    if images.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    device = next(model.parameters()).device
    x = images.to(device=device, dtype=torch.float32)
    size = getattr(model, "resolution", None)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < min(x.shape[-2:])
        )
    return x


def _batches(images: Images, batch_size: int) -> Iterator[torch.Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(images), batch_size):
        stop = min(start + batch_size, len(images))
        yield images.images(range(start, stop)) if isinstance(images, ImageDataset) else images[start:stop]


@torch.no_grad()
def predict_proba(model: nn.Module, images: Images, batch_size: int = 256) -> torch.Tensor:
    """Class probabilities [N, num_classes] (float32, CPU) for a tensor of images or an ImageDataset."""
    was_training = model.training
    model.eval()
    try:
        out = [_finite(model, model(prepare(model, b))).softmax(1).cpu() for b in _batches(images, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.num_classes)


def _finite(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The logits, after checking they are finite: a NaN logit's softmax would count as some class."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits).all(1)).sum())
        raise NonFiniteOutputError(
            f"{getattr(model, 'origin', None) or 'the classifier'}: NaN or infinite outputs "
            f"for {bad} of {logits.shape[0]} images; the judge is broken (or the images are), "
            "and no verdict is computed from it"
        )
    return logits


def predict(model: nn.Module, images: Images, batch_size: int = 256) -> torch.Tensor:
    """Predicted labels [N] (int64, CPU)."""
    return predict_proba(model, images, batch_size).argmax(1)


@torch.no_grad()
def marked(
    model: nn.Module, images: torch.Tensor, undesired_class: int, threshold: float | None = None
) -> torch.Tensor:
    """The labeller's rule on a batch, on the images' device: the predicted class is `undesired_class`,
    or with a threshold P, the class's probability is at least P (atu feedback's rule, which the
    redaction term and the output filter apply to generated images)."""
    proba = _finite(model, model(prepare(model, images))).softmax(1).to(images.device)
    if threshold is None:
        return proba.argmax(1) == undesired_class
    return proba[:, undesired_class] >= threshold


def feature_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """images -> penultimate features, in eval mode: the extractor `atu.eval.fid.fid` takes."""
    model.eval()

    @torch.no_grad()
    def extract(images: torch.Tensor) -> torch.Tensor:
        return model.features(prepare(model, images))

    return extract
