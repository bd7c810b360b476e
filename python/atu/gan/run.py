"""A resumable StyleGAN2 training run in one folder: what `atu pretrain`, `atu adapt` and
`atu unlearn` share.

  run.json                  the resolved configuration, the input files (path, sha256), provenance
  checkpoint.safetensors    g, g_ema, d, optimisers, RNG, batch sampler: everything to continue
                            exactly; written atomically every `checkpoint_every` steps, at the end
                            and on Ctrl-C
  model.safetensors         written at the end (g_ema and d), before the final grid: what later
                            steps read
  samples/step_NNNNNN.png   g_ema on fixed latents, every `sample_every` steps and at the end (none
                            with sample_every 0), drawn in chunks that fit any resolution
  log.jsonl                 the step's losses (and the command's extra values), every `log_every`

Rules every command gets from here:
- a folder that already holds a run is refused unless resuming; resuming needs a checkpoint, the
  same configuration (only the step budget may change) and input files with the same content;
- Ctrl-C finishes the current step, saves, then stops (see util/interrupts.py);
- a non-finite loss stops the run with NonFiniteLossError naming the step. The state reached is
  not saved, so the last checkpoint (checked finite before it was written) is the resume point;
- when a run resumes, log.jsonl is cut back to the checkpoint's step so no step is logged twice;
- a data-parallel run (trainer.parallel, under torchrun) is one run: only rank 0 writes its files,
  every rank reads the same checkpoint to resume, and Ctrl-C on any rank stops all of them after
  the same step.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .. import checkpoint as ckpt
from ..util import distributed
from ..util.atomic import write_text
from ..util.errors import RunFailedError
from ..util.images import save_grid
from ..util.interrupts import StoppedBetweenSteps, deferred_interrupts
from ..util.metric_sinks import MetricSinks, check_sinks
from ..util.provenance import provenance
from .sampling import Batches
from .trainer import StyleGAN2Trainer

RUN_FILE = "run.json"
STATE_FILE = "checkpoint.safetensors"
MODEL_FILE = "model.safetensors"
LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"


class NonFiniteLossError(RunFailedError, FloatingPointError):
    """Training produced a NaN or an infinity; `step` is the step that did."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


@dataclass
class Schedule:
    """How often a run logs, draws its sample grid and writes its checkpoint (in steps);
    sample_every 0 draws no grid at all (not even the final one). log_to: the dashboards that get a
    copy of every log.jsonl record (util/metric_sinks.py: "tensorboard", "wandb"), checked here, so
    a missing package stops a command before any work."""

    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    log_to: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("log_every", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            least = 0 if name == "sample_every" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if isinstance(self.log_to, str) or not isinstance(self.log_to, (list, tuple)):
            raise ValueError(f"log_to must be a list of sink names, got {self.log_to!r}")
        self.log_to = check_sinks(self.log_to)


# ---- the folder, before any work ---------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_inputs(files: dict[str, str | os.PathLike | list]) -> dict:
    """{"name": {"path", "sha256"}} (a list of paths for a list): what run.json records, so that
    a resumed run can tell that an input file was replaced since the run started."""

    def one(p):
        return {"path": str(Path(p).resolve()), "sha256": file_sha256(p)}

    return {
        name: [one(p) for p in value] if isinstance(value, (list, tuple)) else one(value)
        for name, value in files.items()
    }


def check_folder(
    out: str | os.PathLike,
    config: dict,
    *,
    resume: bool,
    inputs: dict | None = None,
    may_change: Iterable[str] = ("steps",),
    resume_needs: str = STATE_FILE,
) -> None:
    """Refuses, before anything is written, to start over an existing run, to resume nothing
    (no `resume_needs` file), or to resume with another configuration (keys in `may_change`
    excepted) or other input files."""
    out = Path(out)
    if resume and not (out / resume_needs).is_file():
        raise FileNotFoundError(f"{out}: nothing to resume (no {resume_needs})")
    if not resume and (out / RUN_FILE).exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if not resume:
        return
    stored = json.loads((out / RUN_FILE).read_text())
    old = stored.get("config", {})
    diff = sorted(k for k in set(config) | set(old) if k not in may_change and old.get(k) != config.get(k))
    if diff:
        raise ValueError(
            f"{out}: cannot resume: the configuration differs in {diff} "
            f"(stored {[old.get(k) for k in diff]}, asked {[config.get(k) for k in diff]})"
        )
    changed = sorted(
        name for name, now in (inputs or {}).items() if _hashes(stored.get("inputs", {}).get(name)) != _hashes(now)
    )
    if changed:
        raise ValueError(
            f"{out}: cannot resume: the input file(s) {changed} changed since the run started "
            f"(their sha256 differs from run.json's)"
        )


def _hashes(entry) -> list | None:
    if entry is None:
        return None
    return [e["sha256"] for e in entry] if isinstance(entry, list) else [entry["sha256"]]


GRID_PIXELS = 4096 * 4096  # a sample grid's sheet: 64 tiles up to 512 px, 16 at 1024
# the memory one forward pass of the grid may take (Generator.bytes_per_image): its images at 32 px and
# 48 channels in one pass, one at a time from 256 px at StyleGAN2's full width, where a pass of more
# costs more memory than the training step it follows
GRID_PASS_BYTES = 2**28


def grid_layout(G) -> tuple[int, int, int]:
    """(images, images per forward pass, nearest-neighbour scale) of generator G's sample grid."""
    size = G.size
    count = max(4, min(64, GRID_PIXELS // (size * size)))
    return count, max(1, min(count, GRID_PASS_BYTES // G.bytes_per_image())), 2 if size <= 64 else 1


def fixed_latents(style_dim: int, seed: int, device: str | torch.device = "cpu", n: int = 64) -> torch.Tensor:
    """The latents of a run's sample grids: the same for every step, so the grids show the
    generator changing, not the samples."""
    return torch.randn(n, style_dim, generator=torch.Generator().manual_seed(seed + 1)).to(device)


def write_run_file(out: str | os.PathLike, record: dict) -> None:
    """Creates the folder and writes run.json ({"stage", "config", ..., "run_id", "provenance"})
    atomically. The run_id, new for every run, is what the run's checkpoints are stamped with, so a
    checkpoint copied in from another run (or stage) is refused on --resume."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {**record, "run_id": record.get("run_id") or uuid.uuid4().hex, "provenance": provenance()}
    write_text(out / RUN_FILE, json.dumps(record, indent=2))


def _run_config(out: str | os.PathLike) -> dict:
    """run.json's "config" (what a dashboard shows beside the curves); {} when there is none."""
    try:
        record = json.loads((Path(out) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    config = record.get("config") if isinstance(record, dict) else None
    return config if isinstance(config, dict) else {}


def run_identity(out: str | os.PathLike) -> dict:
    """{"stage", "run_id"} of the run whose run.json is in `out` (None for what an older run.json lacks)."""
    path = Path(out) / RUN_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"stage": None, "run_id": None}
    record = record if isinstance(record, dict) else {}
    return {"stage": record.get("stage"), "run_id": record.get("run_id")}


# ---- the loop ------------------------------------------------------------------------------------------


class TrainingRun:
    """Drives a StyleGAN2Trainer for `steps` steps in folder `out`, with checkpoints, log, samples,
    progress bar, deferred Ctrl-C and the non-finite stop.

    `metadata` (JSON-able) is stored in every checkpoint and in the model file; `extra_logs()`, if
    given, adds values to each logged step (e.g. a distance that is only worth computing then)."""

    def __init__(
        self,
        out: str | os.PathLike,
        trainer: StyleGAN2Trainer,
        batches: Batches,
        *,
        steps: int,
        metadata: dict,
        schedule: Schedule = Schedule(),
        desc: str = "train",
        sample_latents: torch.Tensor | None = None,
        extra_logs: Callable[[], dict[str, float]] | None = None,
        show: tuple[str, ...] = ("d_loss", "g_loss", "r1"),
        progress: bool = True,
    ):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        self.out, self.trainer, self.batches = Path(out), trainer, batches
        self.steps, self.metadata, self.schedule, self.desc = steps, metadata, schedule, desc
        self.sample_latents, self.extra_logs, self.show, self.progress = sample_latents, extra_logs, show, progress
        self.saved_step: int | None = None  # step of the checkpoint on disk, if any
        self.sinks: MetricSinks | None = None  # open while run() runs, on the writing rank
        self.started = time.time()
        parallel = getattr(trainer, "parallel", None)
        self.parallel = parallel
        self.writes = parallel is None or parallel.is_main  # one writer per run

    @property
    def state_file(self) -> Path:
        return self.out / STATE_FILE

    def architecture(self) -> dict:
        return {"generator": self.trainer.G.config(), "discriminator": self.trainer.D.config()}

    # ---- state ----------------------------------------------------------------------------------
    def restore(self) -> None:
        """Continues from checkpoint.safetensors: trainer and sampler exactly as they were saved.
        Refused (CheckpointError, before anything changes) when the file was written by another run
        or stage than the one whose run.json is in the folder, or was changed since it was written."""
        state = ckpt.load_atu(self.state_file)
        ours, theirs = run_identity(self.out), state.metadata.get("written_by")
        if theirs is None:  # written before checkpoints were stamped: the stage is all there is
            theirs = {"stage": state.metadata.get("stage", ours["stage"]), "run_id": ours["run_id"]}
        if theirs != ours:
            raise ckpt.CheckpointError(
                f"{self.state_file}: written by another run (stage {theirs.get('stage')!r}, run "
                f"{theirs.get('run_id')}) than this folder's (stage {ours['stage']!r}, run {ours['run_id']}, "
                f"{self.out / RUN_FILE}); refusing to resume from it"
            )
        self.trainer.load_state(state.state_dicts, state.metadata["trainer"])
        self.batches.load_state(state.metadata["sampler"])
        self.saved_step = self.trainer.step

    def save_state(self) -> None:
        tensors, info = self.trainer.state()
        bad = _non_finite_tensors(tensors, sections=("g", "g_ema", "d"))  # identical on every rank
        if bad:
            self._stop(f"non-finite weights ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
        if not self.writes:
            self.saved_step = self.trainer.step
            return
        ckpt.save(
            self.state_file,
            kind="stylegan2",
            config=self.architecture(),
            state_dicts=tensors,
            metadata={
                "trainer": info,
                "sampler": self.batches.state(),
                "step": self.trainer.step,
                **self.metadata,
                "written_by": run_identity(self.out),
            },
        )
        self.saved_step = self.trainer.step

    def save_model(self, path: str | os.PathLike | None = None, **metadata) -> Path:
        """g_ema and d with the run's metadata: the file later commands read."""
        path = Path(path) if path is not None else self.out / MODEL_FILE
        if not self.writes:
            return path
        ckpt.save(
            path,
            kind="stylegan2",
            config=self.architecture(),
            state_dicts={"g_ema": self.trainer.g_ema.state_dict(), "d": self.trainer.D.state_dict()},
            metadata={
                "step": self.trainer.step,
                **self.metadata,
                **metadata,
                "train_seconds_this_session": round(time.time() - self.started, 1),
                **provenance(),
            },
        )
        return path

    def save_samples(self) -> None:
        """g_ema's grid on the fixed latents, drawn a few images at a time (grid_layout): at 1024 px
        one image's forward pass takes about half a GiB, and 64 at once would take tens."""
        if self.sample_latents is None or not self.writes or self.schedule.sample_every == 0:
            return
        g_ema = self.trainer.g_ema
        count, chunk, scale = grid_layout(g_ema)
        latents = self.sample_latents[:count]
        with torch.no_grad():
            images = [
                g_ema([latents[i : i + chunk]], randomize_noise=False)[0].cpu()
                for i in range(0, latents.shape[0], chunk)
            ]
        save_grid(
            torch.cat(images),
            self.out / SAMPLES_DIR / f"step_{self.trainer.step:06d}.png",
            nrow=math.ceil(math.sqrt(latents.shape[0])),
            scale=scale,
        )

    def finish(self, **metadata) -> Path:
        """What a finished run writes, in order of worth: the model file first (the result), then
        the final sample grid, which may fail or be switched off without costing the model."""
        path = self.save_model(**metadata)
        self.save_samples()
        return path

    # ---- loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        """Trains until `steps`; the final checkpoint and sample grid are written at the end."""

        trainer, sched = self.trainer, self.schedule
        self._trim_log(trainer.step)
        if self.progress and self.writes and trainer.step == 0:
            print(
                f"{self.desc}: a checkpoint of {_state_mib(trainer):,.0f} MiB every {sched.checkpoint_every} steps "
                f"and at the end, in {self.out}",
                file=sys.stderr,
            )
        # stage 1's ranks each train a model of their own: one bar line per rank
        bar = tqdm(
            total=self.steps,
            initial=min(trainer.step, self.steps),
            desc=self.desc,
            disable=not (self.progress and self.writes),
            unit="step",
            position=distributed.rank() if self.parallel is None and distributed.world_size() > 1 else None,
        )
        if self.writes and sched.log_to:
            self.sinks = MetricSinks(
                sched.log_to,
                self.out,
                run_id=run_identity(self.out)["run_id"],
                first_step=trainer.step,
                config=_run_config(self.out),
            )
        with deferred_interrupts() as interrupt:
            try:
                while trainer.step < self.steps:
                    logs = trainer.train_step(self.batches.next())
                    bar.update(1)
                    bad = sorted(k for k, v in logs.items() if not math.isfinite(v))
                    if bad or trainer.step % sched.log_every == 0 or trainer.step == self.steps:
                        if self.extra_logs is not None and not bad:
                            logs.update(self.extra_logs())
                        self._log(logs)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k in self.show})
                    if bad:
                        self._stop(f"non-finite loss ({', '.join(f'{k}={logs[k]}' for k in bad)})")
                    if sched.sample_every and trainer.step % sched.sample_every == 0:
                        self.save_samples()
                    if trainer.step % sched.checkpoint_every == 0 and trainer.step < self.steps:
                        self.save_state()
                    if self.parallel is not None:  # all ranks stop after the same step
                        interrupt.requested = self.parallel.any(interrupt.requested)
                    interrupt.check()
            except StoppedBetweenSteps:  # between steps: the state is consistent, keep it
                self.save_state()
                raise  # a second Ctrl-C mid-step raises past this: nothing saved
            finally:
                bar.close()
                if self.sinks is not None:
                    self.sinks.close()
                    self.sinks = None
        self.save_state()

    def _stop(self, what: str) -> None:
        kept = (
            f"the last good checkpoint {self.state_file} (step {self.saved_step}) is kept; "
            f"lower the learning rate or check the inputs, then --resume from it"
            if self.saved_step is not None
            else "no checkpoint had been written yet"
        )
        raise NonFiniteLossError(
            f"{self.desc}: {what} at step {self.trainer.step}; stopped without saving this state; {kept}",
            step=self.trainer.step,
        )

    def _log(self, logs: dict[str, float]) -> None:
        if not self.writes:
            return
        with open(self.out / LOG_FILE, "a") as fh:
            fh.write(json.dumps({"step": self.trainer.step, **logs}) + "\n")
        if self.sinks is not None:
            self.sinks.log(self.trainer.step, logs)

    def _trim_log(self, step: int) -> None:
        """Drops records past `step` (written after the checkpoint a resumed run restarts from)."""
        path = self.out / LOG_FILE
        if not self.writes or not path.exists():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            write_text(path, "".join(line + "\n" for line in kept))


def _state_mib(trainer: StyleGAN2Trainer) -> float:
    """The size of a run's checkpoint: G, g_ema and D, and Adam's two moments of G and D."""

    def mib(module) -> float:
        return sum(t.numel() * t.element_size() for t in module.state_dict().values()) / 2**20

    return 3 * mib(trainer.G) + mib(trainer.g_ema) + 3 * mib(trainer.D)


def _non_finite_tensors(tensors: dict[str, dict[str, torch.Tensor]], sections: tuple[str, ...]) -> list[str]:
    return [
        f"{s}/{name}"
        for s in sections
        for name, t in tensors.get(s, {}).items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
