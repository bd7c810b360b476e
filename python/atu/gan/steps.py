"""A StyleGAN2Trainer stepped in memory: what the Python API's stages run (no folder, checkpoint or
log file). The run folders' loop (gan/run.py) wraps the same steps in checkpoints, logs and resume."""

from __future__ import annotations

import math
from collections.abc import Callable

from tqdm.auto import tqdm

from .run import NonFiniteLossError
from .sampling import Batches
from .trainer import StyleGAN2Trainer

# callback(step, logs): called after every step with the step's losses (the values log.jsonl holds)
StepCallback = Callable[[int, dict[str, float]], None]


def train_steps(
    trainer: StyleGAN2Trainer,
    batches: Batches,
    steps: int,
    *,
    desc: str = "train",
    progress: bool = True,
    callback: StepCallback | None = None,
) -> None:
    """Trains `steps` steps; a non-finite loss stops with NonFiniteLossError naming the step.
    The bar is tqdm.auto's, so it renders in a notebook too."""

    for _ in tqdm(range(steps), desc=desc, disable=not progress, unit="step"):
        logs = trainer.train_step(batches.next())
        bad = sorted(k for k, v in logs.items() if not math.isfinite(v))
        if bad:
            raise NonFiniteLossError(
                f"{desc}: non-finite loss ({', '.join(f'{k}={logs[k]}' for k in bad)}) at step {trainer.step}",
                step=trainer.step,
            )
        if callback is not None:
            callback(trainer.step, logs)
