"""`atu feedback`: which samples of the pre-trained generator are undesired, saved as a feedback bundle.

  atu feedback --out fb.safetensors --class 8
      draw 5,000 seeded samples of the shipped MNIST generator; the shipped MNIST classifier
      (standing in for the user) marks those it reads as 8 undesired
  atu feedback --gen G.safetensors --classifier C.safetensors --class Eyeglasses --out fb.safetensors
  atu feedback --out fb.safetensors --class 8 --threshold 0.1
      a cautious user: every sample the classifier gives p(8) >= 0.1 is undesired, not only those
      it reads as 8, so the desired samples that stage 2 learns from hold fewer near-8s
  atu feedback --gen G.pt --draw-only --out bank.safetensors
      a bank nobody has judged yet, for a person to mark
  atu feedback --bank bank.safetensors --marks marks.json --out fb.safetensors
      the person's marks: indices into the bank, as JSON {"undesired": [3, 17]} or [3, 17], or text
      with one index per line (# comments)

With --bank the samples are the bank's (no redrawing; --gen/--n/--seed/--truncation are refused).
Everything is checked before any sample is drawn, and a bundle without both undesired and desired
samples is not written: stage 1 trains on the undesired ones, stage 2 on the others.
Exit status: 0 written; 2 bad arguments or input files; 1 the labelled samples cannot be used.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import assets, checkpoint
from ..checkpoint.feedback_bundle import FeedbackBundle, load_bundle, save_bundle
from ..classifiers import load_classifier
from ..classifiers.classes import resolve_class
from ..classifiers.judges import Judge, MeasureJudge
from ..feedback.bank import DEFAULT_N, draw_bank
from ..feedback.labelling import check_threshold, label_with_classifier, label_with_judge, label_with_marks
from ..feedback.marks import MarksError, check_marks, read_marks
from ..models.fits import require_batch_fits
from ..util.errors import InputError
from ..util.provenance import file_record
from ..util.validate import count_arg, seed_arg
from .options import (
    UsageError,
    add_class_option,
    add_device_option,
    add_feature_option,
    command_parser,
    device_option,
    existing_file,
    same_file,
    shipped_file,
)

DEFAULT_SEED = 0
DEFAULT_TRUNCATION = 1.0


@dataclass(kw_only=True)
class BankRequest:
    """What `atu feedback` and `atu label` check alike: where the samples come from and which
    classifier marks them."""

    device: torch.device
    batch_size: int | None  # None: by the generator's resolution (Generator.images_per_pass)
    # the samples: an existing bank, or a generator to draw n of them from
    bank: FeedbackBundle | None = None
    generator: Any = None
    generator_file: Path | None = None
    n: int = DEFAULT_N
    seed: int = DEFAULT_SEED
    truncation: float = DEFAULT_TRUNCATION
    # the classifier that marks samples of undesired_class (--class)
    classifier: Any = None
    classifier_file: Path | None = None
    undesired_class: int | None = None


@dataclass(kw_only=True)
class Request(BankRequest):
    """A checked `atu feedback` invocation: every file read, every number in range."""

    out: Path
    bank_file: Path | None = None
    # the labeller: "classifier", "feature" (a measurement), "marks" or "none" (--draw-only)
    labeller: str = "classifier"
    judge: Judge | None = None  # --feature's
    threshold: float | None = None
    marks: list[int] | None = None
    marks_file: Path | None = None


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "feedback", "draw samples and mark the undesired ones (classifier or a marks file)", __doc__
    )
    p.add_argument("--out", required=True, help="feedback bundle to write (.safetensors)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    samples = p.add_argument_group("samples (drawn fresh, or an existing bank)")
    add_sample_options(samples)
    samples.add_argument("--bank", help="relabel this bundle's samples instead of drawing new ones")
    labels = p.add_argument_group("labeller (exactly one of --class, --feature, --marks, --draw-only)")
    add_class_option(
        labels, "the classifier marks samples it assigns to class C (a number or a label name) undesired", metavar="C"
    )
    add_classifier_option(labels)
    labels.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="with --class: mark undesired every sample whose probability of class C is at least P "
        "(0 < P < 1; a cautious user who also marks doubtful samples); default: the predicted class",
    )
    add_feature_option(labels, "mark the samples with a measured feature, its threshold over --feature-data's images")
    labels.add_argument(
        "--feature-data",
        default=assets.default_set().data,
        help=f"with --feature: the real data the threshold is taken over (default {assets.default_set().data})",
    )
    labels.add_argument("--marks", help="file of undesired sample indices (JSON or one per line)")
    labels.add_argument("--draw-only", action="store_true", help="write the bank unlabelled, for a person to mark")
    add_batch_and_device_options(p)
    p.set_defaults(func=_main)


def add_sample_options(group, n: int = DEFAULT_N, also: str = "") -> None:
    """--gen, --n, --seed and --truncation: how a bank is drawn (atu feedback and atu label); `n` is
    the command's default count, `also` names another source of the defaults (", or DIR's bank's")."""
    group.add_argument(
        "--gen",
        help="pre-trained generator: atu .safetensors or rosinality .pt "
        f"(default: the shipped {assets.default_set().generator}{also})",
    )
    group.add_argument("--n", type=count_arg, help=f"number of samples (default {n}{also})")
    group.add_argument("--seed", type=seed_arg, help=f"seeds the latents and noise (default {DEFAULT_SEED})")
    group.add_argument(
        "--truncation", type=float, help=f"truncation psi in (0, 1] (default {DEFAULT_TRUNCATION}: none)"
    )


def add_classifier_option(group) -> None:
    group.add_argument(
        "--classifier", help=f"classifier checkpoint (default: the shipped {assets.default_set().classifier})"
    )


def add_batch_and_device_options(p) -> None:
    p.add_argument(
        "--batch-size",
        type=count_arg,
        help="samples per generator / classifier call (default: by resolution, 64 up to 181 px, 2 at 1024)",
    )
    add_device_option(p, "where the generator and classifier run")


def _main(args) -> int:
    request = check_arguments(args)
    bundle = collect(request, progress=sys.stderr.isatty())
    print(f"atu feedback: {summary(bundle, request)}")
    if request.labeller != "none":
        try:
            bundle.require_both_kinds("the marks")
        except ValueError as err:  # the input says nothing usable: exit 2, reported once by cli.main
            raise InputError(f"{err}; nothing written") from None
    save_bundle(request.out, bundle)
    print(f"atu feedback: wrote {request.out}")
    return 0


def collect(request: Request, progress: bool = False) -> FeedbackBundle:
    """Draws (or takes) the samples and labels them as the request says."""
    if request.bank is not None:
        bank = request.bank
        bundle = FeedbackBundle(
            bank.latents, bank.images, bank.undesired, {**bank.metadata, "bank_file": file_record(request.bank_file)}
        )
    else:
        bundle = draw_requested_bank(request, progress)
    if request.labeller == "classifier":
        classifier = request.classifier.to(request.device)
        return label_with_classifier(
            bundle,
            classifier,
            request.undesired_class,
            threshold=request.threshold,
            classifier_file=request.classifier_file,
            batch_size=request.batch_size or 64,
        )
    if request.labeller == "feature":
        return label_with_judge(bundle, request.judge, batch_size=request.batch_size or 256)
    if request.labeller == "marks":
        return label_with_marks(bundle, request.marks, marks_file=request.marks_file)
    return bundle


def summary(bundle: FeedbackBundle, request: Request) -> str:
    source = (
        f"the bank {request.bank_file}"
        if request.bank is not None
        else f"{request.generator_file.name} (seed {request.seed}, truncation {request.truncation})"
    )
    text = f"{len(bundle)} samples from {source}"
    if request.labeller == "none":
        return text + ", unlabelled"
    share = 100 * bundle.n_undesired / len(bundle)
    labeller = bundle.metadata["labeller"]
    if request.labeller == "classifier":
        judge = f"classifier {request.classifier_file.name} (class {labeller['undesired_label']}: {labeller['rule']})"
    elif request.labeller == "feature":
        judge = f"the measurement {request.judge.name} (threshold {request.judge.threshold:.4g})"
    else:
        judge = f"marks {request.marks_file.name}"
    return (
        f"{text}, labelled by {judge}: {bundle.n_undesired} undesired ({share:.1f}%), "
        f"{len(bundle) - bundle.n_undesired} desired"
    )


# ---- checking the arguments ----------------------------------------------------------------------


def check_arguments(args) -> Request:
    """Everything that can go wrong before drawing: raises UsageError (or the readers' errors)."""
    out = _check_out(args)
    labeller = _labeller(args)
    request = Request(
        out=out,
        device=device_option(args.device),
        batch_size=args.batch_size,
        labeller=labeller,
        threshold=args.threshold,
    )
    if args.bank is not None:
        _take_bank(args, request)
    else:
        take_generator(args, request)
        if request.batch_size is not None:  # given by the user: refused now if it cannot fit
            require_batch_fits(request.generator, request.batch_size, request.device, "--batch-size")
    n = len(request.bank) if request.bank is not None else request.n
    if labeller == "classifier":
        take_classifier(args, request)
    elif labeller == "feature":
        resolution = request.bank.images.shape[-1] if request.bank is not None else request.generator.size
        try:
            request.judge = MeasureJudge.over(args.feature, args.feature_data, resolution)
        except (ValueError, OSError) as err:
            raise UsageError(f"--feature-data {args.feature_data}: {err}") from err
    elif labeller == "marks":
        request.marks_file = existing_file(args.marks, "--marks")
        entries = read_marks(request.marks_file)  # its errors name the file already
        try:
            request.marks = check_marks(entries, n)
        except MarksError as err:
            raise UsageError(f"--marks {request.marks_file}: {err}") from err
    for name, path in (
        ("--gen", request.generator_file),
        ("--classifier", request.classifier_file),
        ("--marks", request.marks_file),
    ):
        if path is not None and same_file(path, out):
            raise UsageError(f"--out {out} is the {name} input; write the bundle to another path")
    return request


def _check_out(args) -> Path:
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: a feedback bundle is a .safetensors file")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder")
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; pass --force to overwrite it")
    return out


def _labeller(args) -> str:
    chosen = [
        name
        for name, given in (
            ("--class", args.undesired_class is not None),
            ("--feature", args.feature is not None),
            ("--marks", args.marks is not None),
            ("--draw-only", args.draw_only),
        )
        if given
    ]
    if len(chosen) != 1:
        raise UsageError(
            "say what is undesired with exactly one of --class C (a classifier judges), --feature MEASURE:topP "
            "(a measurement judges), --marks FILE (a person's marks) or --draw-only (no labels yet)"
            + (f"; got {' and '.join(chosen)}" if chosen else "")
        )
    for flag, given in (("--classifier", args.classifier is not None), ("--threshold", args.threshold is not None)):
        if given and chosen != ["--class"]:
            raise UsageError(f"{flag} goes with --class C (a classifier judges), not {chosen[0]}")
    try:
        check_threshold(args.threshold)
    except ValueError as err:
        raise UsageError(f"--threshold: {err}") from err
    return {"--class": "classifier", "--feature": "feature", "--marks": "marks", "--draw-only": "none"}[chosen[0]]


def _take_bank(args, request: Request) -> None:
    fresh = [
        flag
        for flag, value in (
            ("--gen", args.gen),
            ("--n", args.n),
            ("--seed", args.seed),
            ("--truncation", args.truncation),
        )
        if value is not None
    ]
    if fresh:
        raise UsageError(f"{', '.join(fresh)} describe drawing new samples; with --bank the samples are the bank's")
    if args.draw_only:
        raise UsageError(
            "--draw-only draws a new bank; with --bank there is nothing to draw (label it with --class or --marks)"
        )
    request.bank_file = existing_file(args.bank, "--bank")
    request.bank = load_bundle(request.bank_file)


def take_generator(args, request: BankRequest, default_n: int = DEFAULT_N) -> None:
    """--gen (default: the shipped generator), --n, --seed and --truncation into `request`."""
    request.n = default_n if args.n is None else args.n
    request.seed = DEFAULT_SEED if args.seed is None else args.seed
    request.truncation = DEFAULT_TRUNCATION if args.truncation is None else args.truncation
    if request.n < 1:
        raise UsageError(f"--n must be >= 1, got {request.n}")
    if not 0 < request.truncation <= 1:
        raise UsageError(f"--truncation must be in (0, 1] (1 = no truncation), got {request.truncation}")
    request.generator_file = (
        existing_file(args.gen, "--gen") if args.gen else shipped_file(assets.default_set().generator, "--gen")
    )
    request.generator = checkpoint.load(request.generator_file).generator("g_ema")


def draw_requested_bank(request: BankRequest, progress: bool) -> FeedbackBundle:
    """The bank of n samples the request's generator draws (seed, truncation, batch size, device)."""
    return draw_bank(
        request.generator.to(request.device),
        request.n,
        request.seed,
        truncation=request.truncation,
        batch_size=request.batch_size,
        generator_file=request.generator_file,
        progress=progress,
    )


def take_classifier(args, request: BankRequest) -> None:

    request.classifier_file = (
        existing_file(args.classifier, "--classifier")
        if args.classifier
        else shipped_file(assets.default_set().classifier, "--classifier")
    )
    request.classifier = load_classifier(request.classifier_file)
    try:
        request.undesired_class = resolve_class(request.classifier, args.undesired_class)
    except ValueError as err:
        raise UsageError(f"--class: {err}") from err
    channels = getattr(request.classifier, "in_channels", 3)
    if channels != 3:
        raise UsageError(
            f"--classifier {request.classifier_file} reads {channels}-channel images; the generator's samples are RGB"
        )
