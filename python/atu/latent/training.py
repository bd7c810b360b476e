"""One training step of latent feature unlearning, in the shape gan/run.py's TrainingRun drives (so
the run gets the same folder, checkpoints, resume, Ctrl-C handling and non-finite stop as the
StyleGAN2 stages).

- `LatentBatches`: each step's random inputs — z [B, style_dim] and per-sample noise for every
  layer — drawn from a generator seeded by (seed, step). Its whole state is the step counter, so a
  resumed run draws exactly the inputs an uninterrupted one would have.
- `LatentUnlearnTrainer`: Adam on the synthesis network of g only (the mapping network is frozen,
  as in the paper: w = f's mapping of z, and g's mapping is never changed, so g's samples are g's
  synthesis of the same w). No EMA: the paper fine-tunes g directly, so `g_ema` is g itself. The
  pre-trained discriminator is carried along untouched, so that the run's model.safetensors is a
  complete checkpoint (g_ema and d) that any later command reads like any other.
"""

from __future__ import annotations

import torch
from torch import nn

from ..gan.trainer import optimizer_from_tensors, optimizer_to_tensors
from .direction import FeatureDirection
from .losses import latent_unlearning_losses

MAPPING_PREFIX = "style."


def synthesis_parameters(G: nn.Module) -> list[nn.Parameter]:
    """Every parameter of G but the mapping network's: what latent unlearning trains."""
    return [p for name, p in G.named_parameters() if not name.startswith(MAPPING_PREFIX)]


class LatentBatches:
    """Seeded (z, noise) batches; state = the number of batches drawn."""

    def __init__(self, G: nn.Module, batch_size: int, seed: int, drawn: int = 0):
        self.G, self.batch_size, self.seed, self.drawn = G, batch_size, seed, drawn

    def next(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.drawn)
        like = self.G.input.input
        z = torch.randn(self.batch_size, self.G.style_dim, generator=gen).to(like)
        noise = self.G.make_noise(gen, batch=self.batch_size)
        self.drawn += 1
        return z, noise

    def state(self) -> list[int]:
        return [self.drawn]

    def load_state(self, state) -> None:
        (self.drawn,) = (int(v) for v in state)


class LatentUnlearnTrainer:
    """g trained toward the latent-unlearning objective against the frozen f (see losses.py)."""

    parallel = None  # one process: TrainingRun then writes every file itself

    def __init__(
        self, g: nn.Module, f: nn.Module, D: nn.Module, direction: FeatureDirection, *, alpha: float, lr: float
    ):
        self.G, self.g_ema, self.D, self.f = g, g, D, f.eval().requires_grad_(False)
        self.direction, self.alpha = direction, alpha
        for p in g.style.parameters():
            p.requires_grad_(False)
        self.optim = torch.optim.Adam(synthesis_parameters(g), lr=lr)
        self.step = 0

    def train_step(self, batch: tuple[torch.Tensor, list[torch.Tensor]]) -> dict[str, float]:
        z, noise = batch
        with torch.no_grad():
            w = self.f.style(z)
        terms = latent_unlearning_losses(self.G, self.f, w, noise, self.direction, self.alpha)
        self.optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optim.step()
        self.step += 1
        return {name: float(value.detach()) for name, value in terms.items()}

    # ---- state (for resuming) ---------------------------------------------------------------------
    def state(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
        tensors = {"g": self.G.state_dict(), "d": self.D.state_dict(), "direction": {"target": self.direction.target}}
        info = {"step": self.step, "threshold": self.direction.threshold}
        tensors["g_optim"], info["g_optim"] = optimizer_to_tensors(self.optim)
        return tensors, info

    def load_state(self, tensors: dict[str, dict[str, torch.Tensor]], info: dict) -> None:
        self.G.load_state_dict(tensors["g"])
        self.D.load_state_dict(tensors["d"])
        # the direction the run started with (refitting would give the same, but the file is the record)
        device = next(self.G.parameters()).device
        self.direction = FeatureDirection(tensors["direction"]["target"].to(device), float(info["threshold"]))
        self.optim.load_state_dict(optimizer_from_tensors(tensors["g_optim"], info["g_optim"]))
        self.step = int(info["step"])
