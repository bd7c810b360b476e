"""Training the digit or attribute classifier that stands in for the user (`atu train-classifier`).

The classifier simulates the user's feedback (which samples show the undesired feature) and judges
PUL; its penultimate features are the space FID is computed in. It is trained on a stratified split
(`atu.data.split(data, held_out, seed)`), so anyone can recompute the held-out set from the seed in
the checkpoint's metadata and check the reported accuracy.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data import ImageDataset, split
from .augment import Augmentation, default_augmentation
from .inference import predict
from .io import ARCHITECTURES, build_classifier
from .lenet import MIN_RESOLUTION as LENET_MIN
from .resnet import MIN_RESOLUTION as RESNET_MIN

DEFAULT_EPOCHS = {"lenet": 30, "resnet": 15}
MIN_RESOLUTION = {"lenet": LENET_MIN, "resnet": RESNET_MIN}
# Datasets are held in memory up to this size; larger ones (a big image folder) are read per batch.
_IN_MEMORY_BYTES = 1 << 30


def train_classifier(
    dataset: ImageDataset,
    *,
    arch: str = "lenet",
    epochs: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    held_out: float = 0.15,
    augment: Augmentation | str | None = "auto",
    balance_classes: bool = True,
    model_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Trains a classifier on `dataset`'s labels; returns (model in eval mode on CPU, report).

    The report holds the held-out accuracy (on `split(dataset, held_out, seed)[1]`), the per-class
    accuracies and their mean (balanced accuracy: what matters for a rare attribute), the split
    sizes, the settings and the training time. Everything random (split, initialisation, batch
    order, augmentation) follows `seed`: the same call gives the same weights on the same machine.
    `balance_classes` weights the loss by inverse class frequency so a rare attribute is not ignored.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    if dataset.resolution < MIN_RESOLUTION[arch]:
        raise ValueError(
            f"{arch} needs images of at least {MIN_RESOLUTION[arch]} px; the data is {dataset.resolution} px"
        )
    epochs = DEFAULT_EPOCHS[arch] if epochs is None else epochs
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"epochs, batch_size and lr must be positive (got {epochs}, {batch_size}, {lr})")
    labels = dataset.labels
    if len(labels) == 0 or int(labels.min()) < 0:
        raise ValueError(
            f"{dataset.name}: every image needs a label to train a classifier (folder data: pass label_attribute)"
        )
    num_classes = max(2, int(labels.max()) + 1)
    if len(torch.unique(labels)) < 2:
        raise ValueError(f"{dataset.name}: all images have label {int(labels[0])}; nothing to classify")
    if augment == "auto":
        augment = default_augmentation(arch, dataset.resolution)
    augment = augment or Augmentation()

    started = time.perf_counter()
    train_set, test_set = split(dataset, held_out, seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        config = {"arch": arch, "num_classes": num_classes, "resolution": dataset.resolution, **(model_config or {})}
        model = build_classifier(config).to(device)
    class_weights = _class_weights(train_set.labels, num_classes) if balance_classes else None
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(train_set) // batch_size)
    # Cosine decay to zero: the last epochs settle the weights instead of jittering around a minimum.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    source = _BatchSource(train_set)

    losses = []
    model.train()
    for _ in tqdm(range(epochs), desc=f"train {arch}", unit="epoch", disable=not progress):
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            positions = order[start : start + batch_size]
            x = augment(source.images(positions), generator).to(device)
            y = train_set.labels[positions].to(device)
            loss = F.cross_entropy(model(x), y, weight=None if class_weights is None else class_weights.to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(positions)
        losses.append(total / len(train_set))
    model = model.cpu().eval()

    report = evaluate(model, test_set)
    report.update(
        arch=arch,
        n_train=len(train_set),
        n_test=len(test_set),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        held_out_fraction=held_out,
        augmentation=augment.to_dict(),
        balance_classes=balance_classes,
        final_train_loss=round(losses[-1], 6),
        seconds=round(time.perf_counter() - started, 1),
    )
    return model, report


def evaluate(model: nn.Module, data: ImageDataset, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy, per-class accuracy and balanced accuracy (their mean) of `model` on labelled data."""
    truth = data.labels
    guess = predict(model, data, batch_size)
    per_class = {int(c): float((guess[truth == c] == c).double().mean()) for c in torch.unique(truth)}
    return {
        "held_out_accuracy": float((guess == truth).double().mean()),
        "balanced_accuracy": sum(per_class.values()) / len(per_class),
        "per_class_accuracy": per_class,
    }


def _class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=num_classes).double()
    present = counts > 0
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])  # mean weight per image = 1
    return weights.float()


class _BatchSource:
    """Training images by position: all in memory when they fit, otherwise read per batch."""

    def __init__(self, data: ImageDataset):
        self.data = data
        nbytes = len(data) * 3 * data.resolution**2 * 4
        self.cached = data.images() if nbytes <= _IN_MEMORY_BYTES else None

    def images(self, positions: torch.Tensor) -> torch.Tensor:
        return self.cached[positions] if self.cached is not None else self.data.images(positions)
