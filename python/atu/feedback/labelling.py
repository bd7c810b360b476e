"""Marking a bank's samples undesired: by a classifier standing in for the user, or by the user's marks.

Both return a new FeedbackBundle with the same latents and images and the labeller recorded in its
metadata; neither insists on negatives and positives both being present (an all-desired result is
worth inspecting), `FeedbackBundle.require_both_kinds` is the check before training on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..checkpoint.feedback_bundle import FeedbackBundle, uint8_to_images
from ..classifiers import predict_proba
from ..classifiers.classes import label_names, resolve_class
from ..classifiers.judges import Judge
from ..util.provenance import file_record, provenance
from .marks import check_marks


@torch.no_grad()
def label_with_classifier(
    bundle: FeedbackBundle,
    classifier: nn.Module,
    undesired_class: int | str,
    *,
    threshold: float | None = None,
    classifier_file: str | os.PathLike | None = None,
    batch_size: int = 256,
) -> FeedbackBundle:
    """Marks undesired every sample whose predicted class is `undesired_class`, or, with a
    `threshold` P in (0, 1), every sample to which the classifier gives that class a probability of
    at least P: a cautious user, who also marks the doubtful samples (a lower P marks more).

    Why a threshold: stage 2 trains on the desired samples, so a sample the classifier almost
    calls undesired (with the digits demo, 243 of the 4,609 "desired" samples had p(8) > 0.1)
    teaches the generator to keep making near-misses of the feature.

    The classifier judges the stored uint8 images (what a user would see and what the stages train
    on), resized to its own resolution by `atu.classifiers.predict_proba`. The metadata records the
    class, how many samples fell in each class, and the classifier (file path and SHA-256 when
    `classifier_file` is given, its held-out accuracy when its metadata has one)."""

    target = resolve_class(classifier, undesired_class)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_threshold(threshold)
    predicted, probability = [], []
    # Converted to float a batch at a time: a 5,000-sample bank of 256-px images is 1 GB as bytes
    # but 4 GB as float32.
    for start in range(0, len(bundle), batch_size):
        images = uint8_to_images(bundle.images[start : start + batch_size])
        proba = predict_proba(classifier, images, batch_size)
        predicted.append(proba.argmax(1))
        probability.append(proba[:, target])
    predicted, probability = torch.cat(predicted), torch.cat(probability)
    undesired = predicted == target if threshold is None else probability >= threshold
    names = label_names(classifier)
    per_class = torch.bincount(predicted, minlength=classifier.num_classes).tolist()
    labeller: dict[str, Any] = {
        "kind": "classifier",
        "undesired_class": target,
        "undesired_label": names[target],
        "rule": "predicted class" if threshold is None else f"p(class) >= {threshold:g}",
        "threshold": threshold,
        "num_classes": classifier.num_classes,
        "predicted_counts": dict(zip(names, per_class)),
        "held_out_accuracy": getattr(classifier, "metadata", {}).get("held_out_accuracy"),
        "config": classifier.config() if hasattr(classifier, "config") else type(classifier).__name__,
    }
    if classifier_file is not None:
        labeller.update(file_record(classifier_file))
    return relabelled(bundle, undesired, labeller)


def label_with_judge(bundle: FeedbackBundle, judge: Judge, *, batch_size: int = 256) -> FeedbackBundle:
    """Marks undesired every sample in which `judge` (classifiers/judges.py) finds the feature, such
    as a measured feature's; the metadata records the judge (its measure and threshold)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    undesired = torch.cat(
        [
            judge.holds(uint8_to_images(bundle.images[start : start + batch_size])).cpu()
            for start in range(0, len(bundle), batch_size)
        ]
    )
    return relabelled(bundle, undesired, {**judge.record(), "rule": f"judged {judge.name}"})


def first_negatives(bundle: FeedbackBundle, n: int) -> FeedbackBundle:
    """The feedback of a user who marks only the first `n` undesired samples in bank order and stops:
    those n as negatives, every desired sample of the bank as a positive, the later undesired
    samples left out (they are neither marked nor desired). The metadata records n and how far into
    the bank the n-th was found."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"negatives must be a whole number >= 1, got {n!r}")
    found = torch.nonzero(bundle.undesired).flatten()
    if found.numel() < n:
        raise ValueError(
            f"{n} negatives asked for, but the bank holds {found.numel()} undesired samples of {len(bundle)}: "
            f"draw a larger bank"
        )
    keep = ~bundle.undesired
    keep[found[:n]] = True
    within = int(found[n - 1]) + 1
    metadata = {
        **bundle.metadata,
        "negatives": {"n": n, "within_first": within, "left_out": int(found.numel() - n)},
        "counts": {"n": int(keep.sum()), "undesired": n, "desired": int(keep.sum()) - n},
    }
    return FeedbackBundle(bundle.latents[keep], bundle.images[keep], bundle.undesired[keep], metadata)


def check_threshold(threshold: float | None) -> None:
    """None (the predicted class decides) or a probability strictly between 0 and 1."""
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(
            f"threshold must be a probability strictly between 0 and 1 (or none: the predicted "
            f"class decides), got {threshold!r}"
        )


def label_with_marks(
    bundle: FeedbackBundle, marks: Iterable[Any], *, marks_file: str | os.PathLike | None = None
) -> FeedbackBundle:
    """Marks undesired exactly the samples whose indices are in `marks` (checked by `check_marks`:
    ints in range, no repeats, every bad entry named)."""
    indices = check_marks(marks, len(bundle))
    undesired = torch.zeros(len(bundle), dtype=torch.bool)
    undesired[indices] = True
    labeller: dict[str, Any] = {"kind": "marks", "n_marked": len(indices)}
    if marks_file is not None:
        labeller.update(file_record(marks_file))
    return relabelled(bundle, undesired, labeller)


def relabelled(bundle: FeedbackBundle, undesired: torch.Tensor, labeller: dict[str, Any]) -> FeedbackBundle:
    """The same samples with new marks; the metadata's labeller and counts describe the new marks,
    everything else (generator, sampling, when the bank was drawn) is kept."""
    n_undesired = int(undesired.sum())
    metadata = {
        **bundle.metadata,
        "labeller": {**labeller, "provenance": provenance()},
        "counts": {"n": len(bundle), "undesired": n_undesired, "desired": len(bundle) - n_undesired},
    }
    return FeedbackBundle(bundle.latents, bundle.images, undesired, metadata)
