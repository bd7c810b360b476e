"""`atu run CONFIG.yaml`: a whole study from one configuration file, resumable.

  atu run examples/mnist.yaml --out runs/mnist
  atu run examples/mnist.yaml --out runs/mnist --resume     # after Ctrl-C, or with more seeds/methods
  atu run examples/mnist.yaml --out runs/mnist --processes 1    # one CPU process (default: 2 on 2+ cores)

The configuration's format is in atu/study/config.py (and the example files). Everything is read
and checked before any work; a resumed study redoes nothing that finished.
Exit status: 0 done; 2 bad configuration or inputs; 1 a run failed (e.g. a non-finite loss);
130 interrupted (resume with --resume).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..study.config_file import load_config
from ..study.runner import run_study
from ..util import distributed
from ..util.devices import resolve_device
from ..util.local_group import auto_processes
from .options import UsageError, command_parser


def add_study_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue the study in --out (methods and seeds may be added)")
    p.add_argument("--device", help="override the configuration's device (auto, cpu, cuda, cuda:1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--processes",
        default="auto",
        metavar="N",
        help="CPU processes sharing the training (stage 1's models side by side, stage 2 data "
        "parallel), the threads divided between them; auto: 2 on a CPU with at least 2 cores, "
        "else 1 (default: auto)",
    )


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "run", "a whole study (features × seeds × methods) from a YAML configuration", __doc__
    )
    p.add_argument("config", help="study configuration (.yaml, .yml or .json)")
    p.add_argument("--out", required=True, help="study folder")
    add_study_options(p)
    p.set_defaults(func=_main)


def execute(cfg, args, prog: str) -> int:
    """Runs a checked configuration with the shared options; the exit status as documented."""

    if distributed.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # every rank would run the whole study into one folder; the stage commands share out work
        raise UsageError(
            "a study runs in one process; under torchrun use the stage commands "
            "(atu adapt, atu unlearn, atu evaluate), which share their work over the processes"
        )
    if args.device:
        cfg.device = args.device
    device = resolve_device(cfg.device)
    processes = _processes(args.processes, device)
    report = run_study(
        cfg, args.out, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty(), processes=processes
    )
    print(f"{prog}: report: {report}")
    return 0


def _processes(value: str, device: str) -> int:

    if value == "auto":
        return auto_processes(device)
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"--processes {value}: expected a whole number >= 1 or auto")
    if n > 1 and device != "cpu":
        raise UsageError(
            f"--processes {value}: several processes are for CPU runs (the device is {device}); "
            f"on GPUs run the stage commands under torchrun (docs/scaling.md)"
        )
    return n


def _main(args) -> int:

    return execute(load_config(args.config), args, "atu run")
