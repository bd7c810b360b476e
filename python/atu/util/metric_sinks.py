"""Optional copies of a training run's log for the dashboards StyleGAN2 users watch: TensorBoard
event files in <run>/tensorboard/ and a Weights & Biases run. log.jsonl stays the record; these
are off unless asked for (`--log-to tensorboard,wandb`, or `log_to` in a study's schedule).

Each sink needs its package (`pip install 'atu[tensorboard]'`, `'atu[wandb]'`): `check_sinks` says
which is missing before any work. A resumed run continues the same dashboards: TensorBoard drops
what was logged past the checkpoint the run restarts from (as log.jsonl is cut back), and W&B
resumes the run with the id of the run's folder (run.json's run_id). W&B is told nothing but the
values: where it sends them (a project, offline) is the user's W&B settings (WANDB_PROJECT,
WANDB_MODE, ...); the project defaults to "atu"."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from .errors import InputError

# name -> (the module it needs, the extra that installs it)
SINKS = {"tensorboard": ("tensorboard", "atu[tensorboard]"), "wandb": ("wandb", "atu[wandb]")}
TENSORBOARD_DIR = "tensorboard"


class SinkUnavailableError(InputError):
    """A sink was asked for whose package is not installed (exit status 2, before any work)."""


def check_sinks(names) -> tuple[str, ...]:
    """The sinks named (a comma-separated string or a sequence), each once, checked: an unknown
    name is an InputError, a missing package a SinkUnavailableError naming the extra to install."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in SINKS:
            raise InputError(f"log sink {name!r}: expected one of {', '.join(SINKS)}")
        module, extra = SINKS[name]
        if importlib.util.find_spec(module) is None:
            raise SinkUnavailableError(
                f"log sink {name!r} needs the {module} package, which is not installed: pip install '{extra}'"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def log_to_arg(text: str) -> tuple[str, ...]:
    """argparse type of --log-to: the checked sinks, or argparse's error (exit status 2)."""

    try:
        return check_sinks(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class MetricSinks:
    """The open sinks of one run folder `out`. `first_step` is the step the run starts from (0, or
    the checkpoint's when resuming); `run_id` and `config` identify the run to W&B."""

    def __init__(
        self, names, out: str | os.PathLike, *, run_id: str | None, first_step: int = 0, config: dict | None = None
    ):
        self._writers = []
        out = Path(out)
        for name in check_sinks(names):
            if name == "tensorboard":
                self._writers.append(_TensorBoard(out / TENSORBOARD_DIR, first_step))
            else:
                self._writers.append(_WandB(out, run_id, config or {}))

    def log(self, step: int, values: dict[str, float]) -> None:
        for writer in self._writers:
            writer.log(step, values)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []


class _TensorBoard:
    def __init__(self, folder: Path, first_step: int):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events at or past it (logged after the checkpoint a resumed run restarts
        # from) are hidden, so no step is shown twice
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=first_step + 1 if first_step > 0 else None)

    def log(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, out: Path, run_id: str | None, config: dict):
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "atu"),
            name=out.name,
            id=run_id,
            resume="allow" if run_id else None,
            dir=str(out),
            config=config,
        )

    def log(self, step: int, values: dict[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def close(self) -> None:
        self.run.finish()
