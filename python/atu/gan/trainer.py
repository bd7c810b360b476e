"""One StyleGAN2 training iteration as rosinality/stylegan2-pytorch (and the ATU authors) run it:
non-saturating logistic loss, lazy R1 on D every d_reg_every steps, lazy path-length regularisation
on G every g_reg_every steps, style mixing, an EMA generator, Adam with the lazy-regularisation
correction of lr and betas. Stage 1 and stage 2 of Adapt-then-Unlearn reuse it with a hook that
adds their penalty's gradient to the generator's.

All randomness (latents, mixing, noise maps, path-length directions) comes from one seeded
torch.Generator whose state is part of the trainer's state, so a resumed run continues exactly.

With `data_parallel` (atu.util.distributed.DataParallel, under torchrun) every process draws the whole
batch's randomness from the same stream and computes its share of the samples; D's and G's
gradients are averaged over the processes after each backward (adversarial loss, R1, path
length), before the optimiser steps, and the path length's running mean uses the global batch.
The stage's penalty hook runs after the averaging, on parameters that are identical everywhere,
so its gradient is added once, as in one process.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn

from ..models.precision import DTYPES, FP32, NVLABS_CONV_CLAMP, NVLABS_REDUCED_RESOLUTIONS, Precision
from ..util import settings
from ..util.settings import NO_FLAG, setting
from .losses import (
    d_logistic_loss,
    ema_decay,
    ema_update,
    g_nonsaturating_loss,
    path_length_directions,
    path_length_penalty,
    r1_penalty,
)

MAX_BATCH = 1 << 16  # far beyond any device's memory at StyleGAN2's sizes: a typo, refused at once


@dataclass
class TrainConfig:
    """StyleGAN2's training knobs (rosinality's train.py defaults), shared by every stage."""

    batch_size: int = setting(16, help="batch size", flag="--batch")
    lr: float = setting(0.002, help="Adam learning rate of G and D")
    r1: float = setting(10.0, help="R1 weight (applied lazily, every d_reg_every = 16 steps)")
    path_regularize: float = setting(2.0, help="path-length weight (applied lazily, every g_reg_every = 4 steps)")
    path_batch_shrink: int = setting(2, help="the path-length batch is batch_size / this", flag=NO_FLAG)
    d_reg_every: int = setting(16, help="steps between R1 passes", flag=NO_FLAG)
    g_reg_every: int = setting(4, help="steps between path-length passes", flag=NO_FLAG)
    mixing: float = setting(0.9, help="style-mixing probability")
    ema_half_life_kimg: float = setting(10.0, help="EMA half-life in thousands of images", flag="--ema-kimg")
    precision: str = setting(
        "fp32",
        choices=tuple(DTYPES),
        help="the dtype the highest resolutions' convolutions of G and D compute in: fp32, or bf16/fp16 with "
        "float32 weights, optimiser and penalties (NVlabs' mixed precision)",
        record_default=False,
    )
    reduced_resolutions: int = setting(
        NVLABS_REDUCED_RESOLUTIONS,
        help="with --precision bf16/fp16: how many of the highest resolutions compute in it (NVlabs: 4)",
        record_default=False,
    )
    conv_clamp: float | None = setting(
        None,
        help="with --precision bf16/fp16: activations clamped to ±this after every convolution (default: the "
        "clamp the checkpoint records, as NVlabs pickles do, else NVlabs' 256)",
        record_default=False,
    )

    def __post_init__(self):
        settings.check_fields(self)
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "precision" or (f.name == "conv_clamp" and v is None):
                continue
            # NaN passes every comparison: without isfinite, r1=nan would switch R1 off silently
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{f.name} must be a finite number >= 0, got {v!r}")
        for name in ("batch_size", "path_batch_shrink", "d_reg_every", "g_reg_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size > MAX_BATCH:
            raise ValueError(
                f"batch_size {self.batch_size} is more than {MAX_BATCH:,} images a step; "
                "choose a batch that fits the device's memory"
            )
        if self.mixing > 1:
            raise ValueError(f"mixing is a probability, got {self.mixing}")
        self.model_precision()  # its own checks (conv_clamp > 0)

    def model_precision(self, recorded_clamp: float | None = None) -> Precision:
        """What a model computes in while it trains (the EMA copy and every saved model stay float32):
        the clamp set here, else the one its checkpoint recorded (`recorded_clamp`), else NVlabs'."""
        clamp = next(c for c in (self.conv_clamp, recorded_clamp, NVLABS_CONV_CLAMP) if c is not None)
        return Precision(self.precision, self.reduced_resolutions, clamp)

    @classmethod
    def from_dict(cls, d: dict, where: str = "train") -> TrainConfig:
        return settings.from_mapping(cls, d, where)

    def to_dict(self) -> dict:
        return settings.to_dict(self)


def _adam(params, lr: float, reg_every: int) -> torch.optim.Adam:
    # Lazy regularisation runs the regulariser every k steps with k times its weight; StyleGAN2
    # compensates the optimiser's momentum for the extra step: lr·c, betas^c, c = k/(k+1).
    c = reg_every / (reg_every + 1)
    return torch.optim.Adam(params, lr=lr * c, betas=(0.0**c, 0.99**c))


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


# g_grad_hook: called after the generator's loss backward and before its optimizer step; adds
# gradients into p.grad (e.g. atu_ext.EWC/Repulsion.add_grad_) and returns values to log.
# g_step_hook: called right after that optimizer step; may change the parameters directly (a
# decoupled penalty step) and returns values to log. Both run on every rank, after the averaging.
GradHook = Callable[[nn.Module], dict[str, float]]
# d_loss_hook: called in each discriminator step with (D, this process's fake batch, D's predictions
# on it, the step); returns a loss term added to D's logistic loss before its backward (None: nothing
# this step) and values to log (e.g. redaction.RedactionLoss: the feature's samples as extra fakes).
DLossHook = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], tuple["torch.Tensor | None", dict[str, float]]]


class StyleGAN2Trainer:
    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        config: TrainConfig,
        *,
        g_ema: nn.Module | None = None,
        seed: int = 0,
        g_grad_hook: GradHook | None = None,
        g_step_hook: GradHook | None = None,
        d_loss_hook: DLossHook | None = None,
        data_parallel=None,
    ):
        self.G, self.D, self.config = G, D, config
        self.parallel = data_parallel
        if data_parallel is not None:
            data_parallel.check_batch(config.batch_size, "batch_size")
            if config.path_regularize > 0:
                data_parallel.check_batch(
                    max(1, config.batch_size // config.path_batch_shrink),
                    "the path-length batch (batch_size // path_batch_shrink)",
                )
        self.g_ema = g_ema if g_ema is not None else copy.deepcopy(G)
        self.g_ema.eval()
        _set_requires_grad(self.g_ema, False)
        self.device = next(G.parameters()).device
        precision = config.model_precision()
        if precision.reduced:
            # each model clamps as its checkpoint was trained to, unless the config says otherwise
            G.set_precision(config.model_precision(G.recorded_conv_clamp))
            D.set_precision(config.model_precision(D.recorded_conv_clamp))
            self.g_ema.set_precision(FP32)  # samples, evaluations and saved models: float32
        # float16's range: a rare overflow in a reduced layer's gradient is zeroed or capped, as NVlabs does
        self.sanitize_gradients = precision.name == "fp16" and precision.reduced
        if self.sanitize_gradients and self.device.type == "cpu":
            warnings.warn(
                "precision fp16 on a CPU: PyTorch's CPU convolutions have no fast float16 kernels on most "
                "CPUs and can run hundreds of times slower than float32; bf16 is the CPU's reduced precision",
                stacklevel=2,
            )
        self.g_optim = _adam(G.parameters(), config.lr, config.g_reg_every)
        self.d_optim = _adam(D.parameters(), config.lr, config.d_reg_every)
        self.rng = torch.Generator(device=self.device).manual_seed(seed)
        self.step = 0
        self.mean_path_length = torch.zeros((), device=self.device)
        self.ema_decay = ema_decay(config.batch_size, config.ema_half_life_kimg)
        self.g_grad_hook, self.g_step_hook, self.d_loss_hook = g_grad_hook, g_step_hook, d_loss_hook
        if data_parallel is not None:  # the same start everywhere, whatever each process loaded
            data_parallel.broadcast(self.G, self.D, self.g_ema)

    # ---- randomness -------------------------------------------------------------------------------
    def _randn(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.rng, device=self.device)

    def _latents_and_noise(self, n: int):
        """Latents for G (two with probability `mixing`, as style mixing) and its noise maps."""
        mix = (
            self.config.mixing > 0
            and torch.rand((), generator=self.rng, device=self.device).item() < self.config.mixing
        )
        z = [self._randn(n, self.G.style_dim) for _ in range(2 if mix else 1)]
        inject = int(torch.randint(1, self.G.n_latent, (), generator=self.rng, device=self.device)) if mix else None
        noise = [self._randn(n, 1, res, res) for res in self.G.noise_resolutions()]
        return z, inject, noise

    def _share(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.parallel is None else self.parallel.share(x)

    def _average_gradients(self, module: nn.Module) -> None:
        if self.parallel is not None:
            self.parallel.average_gradients(module)
        if self.sanitize_gradients:
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)

    def _fake(self, n: int, return_latents: bool = False):
        """This process's share of n generated samples (all n when alone)."""
        z, inject, noise = self._latents_and_noise(n)
        z, noise = [self._share(t) for t in z], [self._share(t) for t in noise]
        return self.G(z, inject_index=inject, noise=noise, return_latents=return_latents)

    # ---- one iteration ------------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One iteration: a discriminator step (with lazy R1 when due), a generator step (with the
        stage's hooks and lazy path length when due), the EMA update."""
        cfg, G, D = self.config, self.G, self.D
        n = real.shape[0]  # the global batch; this process computes its share
        logs = self.discriminator_step(real, regularize=self.step % cfg.d_reg_every == 0)

        # generator
        _set_requires_grad(G, True)
        _set_requires_grad(D, False)
        fake, _ = self._fake(n)
        g_loss = g_nonsaturating_loss(D(fake))
        self.g_optim.zero_grad(set_to_none=True)
        g_loss.backward()
        self._average_gradients(G)
        if self.g_grad_hook is not None:
            logs.update(self.g_grad_hook(G))
        self.g_optim.step()
        if self.g_step_hook is not None:
            logs.update(self.g_step_hook(G))
        logs["g_loss"] = float(g_loss.detach())

        if cfg.path_regularize > 0 and self.step % cfg.g_reg_every == 0:
            path_n = max(1, n // cfg.path_batch_shrink)
            fake, latents = self._fake(path_n, return_latents=True)
            directions = self._share(
                path_length_directions(
                    (path_n, *fake.shape[1:]), generator=self.rng, device=fake.device, dtype=fake.dtype
                )
            )
            penalty, self.mean_path_length, lengths = path_length_penalty(
                fake,
                latents,
                self.mean_path_length,
                directions=directions,
                batch_mean=self.parallel.mean if self.parallel is not None else None,
            )
            self.g_optim.zero_grad(set_to_none=True)
            (cfg.path_regularize * cfg.g_reg_every * penalty + 0 * fake[0, 0, 0, 0]).backward()
            self._average_gradients(G)
            self.g_optim.step()
            logs["path_penalty"] = float(penalty.detach())
            logs["path_length"] = float(lengths.mean().detach())

        _set_requires_grad(D, True)
        ema_update(self.g_ema, G, self.ema_decay)
        self.step += 1
        return logs if self.parallel is None else self.parallel.mean_logs(logs)

    def discriminator_step(self, real: torch.Tensor, *, regularize: bool = False) -> dict[str, float]:
        """D's half of an iteration against G as it is (G is not updated, the step count does not
        advance): the logistic loss on `real` and a fresh fake batch, then, with `regularize`, the
        lazy R1 step. Called alone it trains D between generator steps (extra critic steps)."""
        cfg, D = self.config, self.D
        n = real.shape[0]  # the global batch; this process computes its share
        real = self._share(real.to(self.device))
        _set_requires_grad(self.G, False)
        _set_requires_grad(D, True)
        fake, _ = self._fake(n)
        real_pred = D(real)
        fake_pred = D(fake)
        d_loss = d_logistic_loss(real_pred, fake_pred)
        logs = {"d_loss": float(d_loss.detach())}
        if self.d_loss_hook is not None:
            extra, hook_logs = self.d_loss_hook(D, fake, fake_pred, self.step)
            logs.update(hook_logs)
            if extra is not None:
                d_loss = d_loss + extra
        self.d_optim.zero_grad(set_to_none=True)
        d_loss.backward()
        self._average_gradients(D)
        self.d_optim.step()

        if regularize and cfg.r1 > 0:
            real_req = real.detach().requires_grad_(True)
            real_pred = D(real_req)
            r1 = r1_penalty(real_pred, real_req)
            self.d_optim.zero_grad(set_to_none=True)
            # 0·pred keeps every D parameter in the graph (as the authors do).
            (cfg.r1 / 2 * r1 * cfg.d_reg_every + 0 * real_pred[0, 0]).backward()
            self._average_gradients(D)
            self.d_optim.step()
            logs["r1"] = float(r1.detach())
        return logs

    # ---- state (for resuming) ---------------------------------------------------------------------
    def state(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
        """(tensor sections, JSON-able values): everything needed to continue exactly."""
        tensors = {
            "g": self.G.state_dict(),
            "g_ema": self.g_ema.state_dict(),
            "d": self.D.state_dict(),
            "trainer": {"rng_state": self.rng.get_state(), "mean_path_length": self.mean_path_length},
        }
        info = {"step": self.step, "train_config": self.config.to_dict()}
        for name, opt in (("g_optim", self.g_optim), ("d_optim", self.d_optim)):
            tensors[name], info[name] = optimizer_to_tensors(opt)
        return tensors, info

    def load_state(self, tensors: dict[str, dict[str, torch.Tensor]], info: dict) -> None:
        self.G.load_state_dict(tensors["g"])
        self.g_ema.load_state_dict(tensors["g_ema"])
        self.D.load_state_dict(tensors["d"])
        for name, opt in (("g_optim", self.g_optim), ("d_optim", self.d_optim)):
            opt.load_state_dict(optimizer_from_tensors(tensors[name], info[name]))
        self.rng.set_state(tensors["trainer"]["rng_state"].cpu())
        self.mean_path_length = tensors["trainer"]["mean_path_length"].to(self.device)
        self.step = int(info["step"])


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state_dict split into flat tensors ("<param index>.<key>") and JSON values,
    so that it can live in a safetensors checkpoint instead of a pickle."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], info: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in [*tensors.items(), *info.get("scalars", {}).items()]:
        idx, key = flat.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": info["param_groups"]}
