"""Redaction: the discriminator is also shown the feature's samples as fakes, so the adversarial
loss itself pushes the generator away from the feature.

The idea is Kong & Chaudhuri's ("Data Redaction from Pre-trained GANs", SaTML 2023): fine-tune the
pre-trained GAN while D learns to tell the data from a mixture of G's samples and the samples to
redact. Their code is not public; these are our data-free forms of it, fitted to atu's feedback
(the "real" side is the positive feedback, as in stage 2):

- source "negatives": the marked undesired samples of the feedback bundle. Each discriminator
  step adds  w · E_neg[softplus(D(x))]  over a batch of negatives (as many as the fake batch,
  drawn with replacement by a generator seeded from (seed, step), so a resumed run draws the
  same ones without saving any state). Cost: one extra D forward and backward per D step.
- source "labeller": G's own current fakes, relabelled online by the classifier that labelled the
  feedback (same class and rule). The fakes it marks are counted again as fakes with weight w:
  w · mean over the marked fakes of softplus(D(x)) (nothing when none is marked). It reuses the D
  step's fake batch and D's predictions on it: no extra D pass, one classifier forward.

Without a redaction term D only learns "positives are real, G's samples are fake"; the feature is
one part of G's samples among many, so D's scores on it fall only a little below the rest and the
generator's gradient away from it stays weak. Weighting the feature as fake gives that gradient
directly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..classifiers.judges import Judge

SOURCES = ("negatives", "labeller")
_STEP_STRIDE = 1_000_003  # a prime: the seeds of (seed, step) and (seed', step') do not collide in practice


def draw_seed(seed: int, step: int) -> int:
    """The seed of step `step`'s negative batch: a function of the run's seed and the step only."""
    return (seed * _STEP_STRIDE + step) % (1 << 63)


class NegativesAsFakes:
    """D-loss hook (gan/trainer.py's d_loss_hook): w · E[softplus(D(x))] over a batch of the marked
    negatives, as many as this process's fake batch.

    Under data parallelism every process draws the global batch's indices from the same seed and
    takes its share (`share`), so the processes together see one batch, as one process would."""

    def __init__(
        self,
        negatives: torch.Tensor,
        weight: float,
        seed: int,
        *,
        share: Callable[[torch.Tensor], torch.Tensor] | None = None,
        global_batch: int | None = None,
    ):
        if negatives.ndim != 4 or negatives.shape[0] < 1:
            raise ValueError(f"negatives must be a non-empty batch [N, C, H, W], got shape {tuple(negatives.shape)}")
        if not weight > 0:
            raise ValueError(f"the redaction weight must be > 0, got {weight!r}")
        self.negatives, self.weight, self.seed = negatives, weight, seed
        self.share, self.global_batch = share, global_batch

    def indices(self, step: int, n: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(draw_seed(self.seed, step))
        return torch.randint(self.negatives.shape[0], (n,), generator=g)

    def __call__(self, D: nn.Module, fake: torch.Tensor, fake_pred: torch.Tensor, step: int):
        n = self.global_batch or fake.shape[0]
        batch = self.negatives[self.indices(step, n).to(self.negatives.device)]
        if self.share is not None:
            batch = self.share(batch)
        term = F.softplus(D(batch)).mean()
        return self.weight * term, {"redact": float(term.detach())}


class MarkedFakesAsFakes:
    """D-loss hook: the fakes the judge that labelled the feedback marks (a classifier's class, with
    the threshold rule of `atu feedback` if it had one, or a measured feature beyond its threshold)
    are counted again as fakes: w · mean over the marked ones of softplus(D(x)). Logs the marked share."""

    def __init__(self, judge: Judge, weight: float):
        if not weight > 0:
            raise ValueError(f"the redaction weight must be > 0, got {weight!r}")
        classifier = getattr(judge, "classifier", None)
        if classifier is not None:  # a frozen labeller, in eval mode
            classifier.eval()
            for p in classifier.parameters():
                p.requires_grad_(False)
        self.judge, self.weight = judge, weight

    def marked(self, images: torch.Tensor) -> torch.Tensor:
        return self.judge.holds(images).to(images.device)

    def __call__(self, D: nn.Module, fake: torch.Tensor, fake_pred: torch.Tensor, step: int):
        mask = self.marked(fake.detach())
        logs = {"marked": float(mask.float().mean())}
        if not bool(mask.any()):
            return None, {**logs, "redact": 0.0}
        term = F.softplus(fake_pred.flatten()[mask]).mean()
        return self.weight * term, {**logs, "redact": float(term.detach())}
