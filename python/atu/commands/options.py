"""What the commands share: options (device, resume, schedule, the StyleGAN2 training knobs),
so that they are spelled and documented the same everywhere, and the checks of command-line
input (NAME=FILE lists, input files, the shipped defaults), whose errors name the option."""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from pathlib import Path

import torch

from .. import assets
from ..data.features import MeasuredFeature
from ..data.morphometrics import MEASURES
from ..gan.run import Schedule
from ..gan.trainer import TrainConfig
from ..util import distributed, settings
from ..util.devices import check_device
from ..util.errors import InputError
from ..util.metric_sinks import log_to_arg
from ..util.validate import count_arg, non_negative_count_arg


def command_description(doc: str | None) -> str:
    """A command's --help text from its module docstring: the summary line and, when the docstring
    continues with an indented block of example command lines, those examples; the rest of the
    docstring (how and why) is for readers of the code and docs/method.md."""
    paragraphs = (doc or "").strip().split("\n\n")
    kept = paragraphs[:1]
    if len(paragraphs) > 1 and all(line.startswith("  ") for line in paragraphs[1].splitlines()):
        kept.append(paragraphs[1])
    return "\n\n".join(kept) + "\n\nEvery option: docs/commands.md; the method and its choices: docs/method.md."


def command_parser(subparsers, name: str, summary: str, doc: str | None) -> argparse.ArgumentParser:
    """A command's parser: `summary` in `atu --help`, the docstring's summary and examples
    (command_description) in `atu NAME --help`."""
    return subparsers.add_parser(
        name, help=summary, description=command_description(doc), formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_training_options(
    p: argparse.ArgumentParser, *, checkpoint_every: int = 500, sample_every: int = 500, log_every: int = 50
) -> None:
    """A training stage's run folder, StyleGAN2 knobs (TrainConfig's flagged settings), device and schedule."""
    p.add_argument("--out", required=True, help="run folder (refused if it already holds a run, unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint(s)")
    settings.add_options(p, TrainConfig)
    add_device_option(p)
    add_schedule_options(p, checkpoint_every=checkpoint_every, sample_every=sample_every, log_every=log_every)


def add_schedule_options(
    p: argparse.ArgumentParser, *, checkpoint_every: int = 500, sample_every: int = 500, log_every: int = 50
) -> None:
    """--checkpoint-every, --sample-every, --log-every and --log-to: a training run's Schedule, the
    same options for every command that trains (`schedule(args)` reads them)."""
    p.add_argument("--checkpoint-every", type=count_arg, default=checkpoint_every, help="steps between checkpoints")
    p.add_argument(
        "--sample-every",
        type=non_negative_count_arg,
        default=sample_every,
        help="steps between sample grids (0: none, not even the final one)",
    )
    p.add_argument("--log-every", type=count_arg, default=log_every, help="steps between log.jsonl records")
    p.add_argument(
        "--log-to",
        type=log_to_arg,
        default=(),
        metavar="SINKS",
        help="also send every log record to tensorboard (<out>/tensorboard/) and/or wandb, "
        "comma-separated (needs pip install 'atu[tensorboard]' / 'atu[wandb]')",
    )


def add_device_option(p: argparse.ArgumentParser, what: str = "cpu, cuda, cuda:1, ...") -> None:
    """--device, defaulting to cuda when this torch sees a GPU (every command that can use one)."""
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help=f"{what} (default: cuda when available)",
    )


def train_config(args) -> TrainConfig:
    return settings.from_options(TrainConfig, args)


@contextmanager
def training_session(args, config_type):
    """(device, settings) of a training command: its device session (the whole machine, or this
    process's part of a torchrun launch), checked, and `config_type`'s settings from the flags."""
    with distributed.session(args.device) as device:
        check_device(device)
        yield device, settings.from_options(config_type, args, train=train_config(args))


def run_options(args, device: str | None = None) -> dict:
    """The run-folder keywords of a training stage from its flags: resume, device, schedule."""
    return {"resume": args.resume, "device": device or args.device, "schedule": schedule(args)}


def adapted_models(values: list[str] | None):
    """--adapted as the stages take it: None, the `atu adapt` folder or one file, or a list of files."""
    return values[0] if values and len(values) == 1 else values or None


def schedule(args) -> Schedule:
    return Schedule(
        log_every=args.log_every,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        log_to=args.log_to,
    )


class UsageError(InputError):
    """Command-line input a command cannot run with (exit status 2); the message names the option."""


def named_files(items: list[str], option: str = "--model", reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """{name: file} from repeated NAME=FILE options; names are unique and none is `reserved`."""
    files: dict[str, str] = {}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise UsageError(f"{option} {item!r}: expected NAME=FILE")
        if name in files:
            raise UsageError(f"{option} name {name!r} given twice")
        if name in reserved:
            raise UsageError(f"{option} {item!r}: the name {name!r} is reserved; choose another")
        files[name] = file
    return files


def read_input(option: str, path: str, read):
    """read(path), with a missing file or any failure to read it reported as a UsageError naming
    the option and the file."""
    if not Path(path).is_file():
        raise UsageError(f"{option} {path}: no such file")
    try:
        return read(path)
    except (ValueError, OSError, RuntimeError) as err:
        raise UsageError(f"{option} {path}: {err}") from err


def device_option(name: str) -> torch.device:
    """--device as a torch.device; a device this machine lacks is a UsageError."""
    try:
        return torch.device(check_device(name))
    except ValueError as err:
        raise UsageError(str(err)) from err


def existing_file(value: str, option: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise UsageError(f"{option} {path} does not exist")
    if not path.is_file():
        raise UsageError(f"{option} {path} is not a file")
    return path


def shipped_file(name: str, option: str) -> Path:
    """A file that ships with atu, the default of `option`."""

    try:
        return assets.path(name)
    except FileNotFoundError as err:
        raise UsageError(f"no {option} given and the default is missing: {err}") from err


def same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def add_class_option(p, text: str, **options) -> None:
    """--class (args.undesired_class): the class a command removes, judges or marks, as `text` says."""
    p.add_argument("--class", dest="undesired_class", help=text, **options)


def add_feature_option(p, role: str, *, flag: str = "--feature", example: str = "strokes") -> None:
    """A measured-feature flag (MEASURE:topP or MEASURE:bottomP of digits, data/features.py), checked
    by the parser; `role` says what the feature does in this command."""
    p.add_argument(
        flag,
        type=feature_arg,
        metavar="MEASURE:topP",
        help=f"{role}: MEASURE:topP or MEASURE:bottomP, MEASURE one of {', '.join(MEASURES)} "
        f"(thickness:top10: the thickest 10%% of {example})",
    )


def feature_arg(text: str) -> str:
    """`type=` of a measured-feature flag: refused by the parser (exit 2) unless it parses."""
    try:
        return MeasuredFeature.parse(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
