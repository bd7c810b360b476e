"""`atu pretrain`: train a StyleGAN2 from scratch on a dataset, resumably.

A run lives in one folder:
  run.json                  the resolved configuration (data, model, training, seed, provenance)
  checkpoint.safetensors    g, g_ema, d, optimiser and RNG state: everything to continue exactly;
                            written atomically every --checkpoint-every steps, at the end and on Ctrl-C
  model.safetensors         at the end: g_ema and d only, the file later stages read
  samples/step_NNNNNN.png   g_ema on a fixed set of latents, every --sample-every steps
  log.jsonl                 losses, every --log-every steps
`--resume` continues a run from its checkpoint (the configuration must match; --steps may grow).
`--d-width` gives the discriminator its own width (the later stages read it from the file as it is).
Exit status: 0 done; 2 bad options, data or run folder (nothing is written); 1 a non-finite loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import load_dataset
from ..models import Discriminator, Generator, narrow_channels
from .run import Schedule, TrainingRun, check_folder, fixed_latents, write_run_file
from .sampling import Batches, EpochSampler
from .trainer import StyleGAN2Trainer, TrainConfig


@dataclass
class ModelConfig:
    size: int = 32
    style_dim: int = 128
    n_mlp: int = 8
    width: int | None = 32  # channels at <= 32 px for narrow CPU models; None: rosinality's table
    channel_multiplier: int = 2
    d_width: int | None = None  # D's own narrow width, when it differs from G's (None: as G)

    def __post_init__(self):
        for name in ("width", "d_width"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number of channels >= 1, got {value!r}")

    def build(self) -> tuple[Generator, Discriminator]:
        narrow = lambda width: narrow_channels(self.size, width) if width else None  # noqa: E731
        G = Generator(self.size, self.style_dim, self.n_mlp, self.channel_multiplier, channels=narrow(self.width))
        D = Discriminator(self.size, self.channel_multiplier, channels=narrow(self.d_width or self.width))
        return G, D

    def to_dict(self) -> dict:
        # d_width only when set, so runs begun before it existed still resume
        return {k: v for k, v in vars(self).items() if k != "d_width" or v is not None}


@dataclass
class PretrainConfig:
    data: str = "digits"
    exclude_classes: list[int] = field(default_factory=list)
    exclude_attribute: str | None = None
    exclude_feature: str | None = None
    attributes_file: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    steps: int = 4000
    seed: int = 0

    def to_dict(self) -> dict:
        # exclude_feature only when set, so runs begun before it existed still resume
        return {
            "data": self.data,
            "exclude_classes": list(self.exclude_classes),
            "exclude_attribute": self.exclude_attribute,
            **({"exclude_feature": self.exclude_feature} if self.exclude_feature else {}),
            "attributes_file": self.attributes_file,
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "steps": self.steps,
            "seed": self.seed,
        }


def _load_data(cfg: PretrainConfig):

    return load_dataset(
        cfg.data,
        resolution=cfg.model.size,
        exclude_classes=tuple(cfg.exclude_classes),
        exclude_attribute=cfg.exclude_attribute,
        exclude_feature=cfg.exclude_feature,
        attributes_file=cfg.attributes_file,
    )


def _batch(dataset, indices: torch.Tensor) -> torch.Tensor:
    return torch.stack([dataset[int(i)][0] for i in indices])


def pretrain(
    cfg: PretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    device: str = "cpu",
    schedule: Schedule = Schedule(),
    progress: bool = True,
) -> Path:
    """Runs (or continues) a pretraining run in `out`; returns the path of model.safetensors."""
    out = Path(out)
    check_folder(out, cfg.to_dict(), resume=resume)
    if cfg.steps < 1:
        raise ValueError(f"steps must be >= 1, got {cfg.steps}")
    dataset = _load_data(cfg)  # bad data specs fail here, before anything is written

    torch.manual_seed(cfg.seed)  # initial weights
    G, D = cfg.model.build()
    G, D = G.to(device), D.to(device)
    trainer = StyleGAN2Trainer(G, D, cfg.train, seed=cfg.seed)
    batches = Batches(EpochSampler(len(dataset), cfg.train.batch_size, cfg.seed), lambda idx: _batch(dataset, idx))
    fixed_z = fixed_latents(G.style_dim, cfg.seed, device)
    run = TrainingRun(
        out,
        trainer,
        batches,
        steps=cfg.steps,
        schedule=schedule,
        desc="pretrain",
        metadata={"run": cfg.to_dict(), "data": dataset.describe()},
        sample_latents=fixed_z,
        progress=progress,
    )
    if resume:
        run.restore()
    else:
        write_run_file(out, {"stage": "pretrain", "config": cfg.to_dict(), "data": dataset.describe()})
    run.run()
    return run.finish()
