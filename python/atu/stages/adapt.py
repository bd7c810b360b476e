"""`atu adapt`: stage 1 of Adapt-then-Unlearn, negative adaptation, resumably.

From θ_G (the pre-trained checkpoint's g_ema, which also starts G and its EMA) and the checkpoint's
D, fine-tune on the NEGATIVE feedback images only: StyleGAN2 training (non-saturating loss, lazy R1
and path length, EMA, Adam; gan/trainer.py) plus the EWC penalty

    (λ/2) Σ_i F_i (θ_i − θ_G,i)²

whose gradient λ·F·(θ − θ_G) is added to G's after its loss backward (atu_ext.EWC with
lam = λ/2, so the default λ = 5e8 is exactly the authors' penalty). F is the empirical Fisher of
atu/stages/fisher.py: by default, as in the authors' code, from the raw D logit on 32 generated samples,
over the StyledConv layers only (`--fisher-layers all` anchors every parameter; `--fisher-output
log_likelihood` uses log σ(D) instead of the logit; see that module for what each changes).

This runs k times from seeds seed, seed+1, ...: adapted models θ_N^1..k whose samples mostly show
the undesired feature. Stage 2 (`atu unlearn`) is repelled from them.

θ_N is each run's g_ema (the EMA of G), as in the authors' code (their stage 2 and extrapolation
read "g_ema" from the adapted checkpoints): an average over the last few hundred steps, it is a
steadier estimate of where adaptation leads than the last iterate of a few-shot GAN fine-tuning.

The EMA lags by several hundred steps at batch 16, so short runs give θ_N close to θ_G (what stage 1
does on the digits model: docs/results.md, "Behind the defaults").

Folder:
  run.json        the resolved configuration and the input files (path, sha256)
  model_<j>/      one run per adapted model (gan/run.py's layout), resumable on its own:
                  fisher.safetensors (F, computed once, before training), checkpoint.safetensors,
                  log.jsonl ("ewc" = the penalty), samples/, and at the end model.safetensors:
                  θ_N^j (g_ema) and d; its metadata "moved_from_theta_g" holds ||θ_N − θ_G|| over
                  all parameters, the EWC-anchored ones and the others (`atu adapt` prints it)
`--resume` skips the finished models and continues the others from their checkpoints.

Under torchrun (several processes) the k runs are shared out: rank r trains the models j with
j % world == r, each in its own model_<j>/, and every rank waits for all of them at the end. The
folder is exactly that of one process (each model depends only on its seed).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import atu_ext

from .. import checkpoint as ckpt
from ..gan.run import (
    MODEL_FILE,
    RUN_FILE,
    STATE_FILE,
    Schedule,
    TrainingRun,
    check_folder,
    describe_inputs,
    fixed_latents,
    write_run_file,
)
from ..gan.sampling import Batches
from ..gan.steps import StepCallback, train_steps
from ..gan.trainer import StyleGAN2Trainer, TrainConfig
from ..models.fits import require_batch_fits
from ..util import distributed, settings
from ..util.settings import setting
from ..util.validate import model_count, non_negative, positive_int, seed_value
from .fisher import FISHER_LAYERS, FISHER_OUTPUTS, anchored_names, empirical_fisher, fisher_samples
from .inputs import load_feedback_images, load_pretrained, require_file
from .memory import warn_if_tight

FISHER_FILE = "fisher.safetensors"


@dataclass
class AdaptConfig:
    k: int = setting(
        2, help="number of adapted models, seeds seed..seed+k-1 (the authors: 2 for MNIST, up to 5)", check=model_count
    )
    steps: int = setting(2000, help="training steps per model (the authors: about 2,000 for MNIST)", check=positive_int)
    lam: float = setting(5e8, help="EWC weight λ of (λ/2)·Σ F (θ − θ_G)²", check=non_negative, label="lam (λ)")
    fisher_samples: int = setting(32, help="generated samples for the Fisher", check=positive_int)
    fisher_layers: str = setting(
        "conv", choices=FISHER_LAYERS, help="conv: StyledConv layers only, as the authors' code; all: every parameter"
    )
    fisher_output: str = setting(
        "logit",
        choices=FISHER_OUTPUTS,
        help="logit: raw D output, as the authors' code; log_likelihood: log sigmoid(D)",
    )
    train: TrainConfig = setting(default_factory=TrainConfig, help="StyleGAN2's training knobs")
    seed: int = setting(0, help="seed of the first model (model j: seed + j)", check=seed_value)

    def __post_init__(self):
        settings.check_fields(self)

    def to_dict(self) -> dict:
        return settings.to_dict(self)


class EWCGradient:
    """The trainer's g_grad_hook for stage 1: adds ∂/∂θ of (λ/2) Σ F (θ − θ_G)² into G's gradients
    (one fused pass; anchor and F copied once) and reports the penalty as "ewc"."""

    def __init__(
        self,
        G: nn.Module,
        anchor: dict[str, torch.Tensor],
        fisher: dict[str, torch.Tensor],
        lam: float,
        names: list[str],
    ):

        named = dict(G.named_parameters())
        self.penalty = atu_ext.EWC(
            [named[n] for n in names], [anchor[n] for n in names], [fisher[n] for n in names], lam=lam / 2
        )

    def __call__(self, G: nn.Module) -> dict[str, float]:
        return {"ewc": float(self.penalty.add_grad_())}


def adapt(
    gen: str | os.PathLike,
    feedback: str | os.PathLike,
    out: str | os.PathLike,
    cfg: AdaptConfig = AdaptConfig(),
    *,
    resume: bool = False,
    device: str = "cpu",
    schedule: Schedule = Schedule(),
    progress: bool = True,
) -> list[Path]:
    """Runs (or continues) stage 1 in `out`; returns the k θ_N files (model_<j>/model.safetensors)."""
    out = Path(out)
    gen, feedback = require_file(gen, "--gen"), require_file(feedback, "--feedback")
    inputs = describe_inputs({"gen": gen, "feedback": feedback})
    check_folder(out, cfg.to_dict(), resume=resume, inputs=inputs, resume_needs=RUN_FILE)
    theta_g, d_pretrained = load_pretrained(gen, device)
    require_batch_fits(theta_g, cfg.train.batch_size, device, "--batch", training=True)  # before any work
    warn_if_tight(theta_g, d_pretrained, cfg.train.batch_size, "adapt", k=cfg.k, device=device)
    negatives = load_feedback_images(feedback, inputs["gen"], theta_g.size, "negatives").to(device)
    distributed.barrier()  # every rank has checked the folder before any writes into it
    if not resume and distributed.is_main():
        write_run_file(
            out, {"stage": "adapt", "config": cfg.to_dict(), "inputs": inputs, "n_negatives": negatives.shape[0]}
        )
    rank, world = distributed.rank(), distributed.world_size()
    for j in range(rank, cfg.k, world):
        _adapt_one(
            j,
            out / f"model_{j}",
            theta_g,
            d_pretrained,
            negatives,
            cfg,
            inputs,
            device=device,
            schedule=schedule,
            progress=progress,
        )
    distributed.barrier()  # all k models are written before any rank returns
    return [out / f"model_{j}" / MODEL_FILE for j in range(cfg.k)]


def _adapt_one(
    j: int,
    sub: Path,
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    negatives: torch.Tensor,
    cfg: AdaptConfig,
    inputs: dict,
    *,
    device: str,
    schedule: Schedule,
    progress: bool,
) -> Path:
    """One adapted model θ_N^j in `sub`: skipped if finished, continued if it has a checkpoint."""
    seed = cfg.seed + j
    if _finished(sub, cfg.steps):
        return sub / MODEL_FILE
    fresh = not (sub / STATE_FILE).is_file()
    sub_config = {**cfg.to_dict(), "model_index": j, "seed": seed}
    if fresh:
        write_run_file(sub, {"stage": "adapt", "config": sub_config, "inputs": inputs})
    fisher = _load_or_compute_fisher(sub / FISHER_FILE, theta_g, d_pretrained, cfg, seed, progress=progress)
    trainer = adaptation_trainer(theta_g, d_pretrained, fisher, cfg, j)
    G, g_ema = trainer.G, trainer.g_ema
    anchor = {name: p.detach() for name, p in theta_g.named_parameters()}
    anchored = anchored_names(G, cfg.fisher_layers)
    run = TrainingRun(
        sub,
        trainer,
        Batches.of_tensor(negatives, cfg.train.batch_size, seed),
        steps=cfg.steps,
        metadata={"stage": "adapt", "run": sub_config, "inputs": inputs},
        schedule=schedule,
        desc=f"adapt {j + 1}/{cfg.k}",
        sample_latents=fixed_latents(G.style_dim, cfg.seed, device),
        show=("d_loss", "g_loss", "ewc"),
        progress=progress,
    )
    if not fresh:
        run.restore()
    run.run()
    return run.finish(moved_from_theta_g=displacement(g_ema, anchor, anchored))


def fisher_of(
    theta_g: nn.Module, d_pretrained: nn.Module, cfg: AdaptConfig, seed: int, progress: bool = False
) -> dict[str, torch.Tensor]:
    """F for the adapted model of `seed`: the empirical Fisher of θ_G under D (stages/fisher.py)."""
    z, noise = fisher_samples(theta_g, cfg.fisher_samples, seed)
    return empirical_fisher(
        theta_g, d_pretrained, z, noise, output=cfg.fisher_output, layers=cfg.fisher_layers, progress=progress
    )


def adaptation_trainer(
    theta_g: nn.Module, d_pretrained: nn.Module, fisher: dict[str, torch.Tensor], cfg: AdaptConfig, j: int
) -> StyleGAN2Trainer:
    """The trainer of θ_N^j: G and its EMA start from θ_G, D from the pre-trained D (all copies),
    seed cfg.seed + j, and the EWC penalty anchored at θ_G with `fisher` (none at λ = 0: plain
    fine-tuning). Its g_ema, once trained, is θ_N^j."""
    G, D, g_ema = copy.deepcopy(theta_g), copy.deepcopy(d_pretrained), copy.deepcopy(theta_g)
    anchor = {name: p.detach() for name, p in theta_g.named_parameters()}
    hook = EWCGradient(G, anchor, fisher, cfg.lam, anchored_names(G, cfg.fisher_layers)) if cfg.lam > 0 else None
    return StyleGAN2Trainer(G, D, cfg.train, g_ema=g_ema, seed=cfg.seed + j, g_grad_hook=hook)


def adapt_generators(
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    negatives: torch.Tensor,
    cfg: AdaptConfig = AdaptConfig(),
    *,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> list[nn.Module]:
    """Stage 1 over modules and tensors: the k adapted generators θ_N^1..k, trained on `negatives`
    (images in [-1, 1], on θ_G's device) exactly as `atu adapt` trains them, nothing written.
    callback(step, logs) sees every step of every model (logs["model"] is j)."""
    models = []
    for j in range(cfg.k):
        fisher = fisher_of(theta_g, d_pretrained, cfg, cfg.seed + j, progress=progress)
        trainer = adaptation_trainer(theta_g, d_pretrained, fisher, cfg, j)
        batches = Batches.of_tensor(negatives, cfg.train.batch_size, cfg.seed + j)
        step_callback = None if callback is None else (lambda step, logs, j=j: callback(step, {**logs, "model": j}))
        train_steps(
            trainer, batches, cfg.steps, desc=f"adapt {j + 1}/{cfg.k}", progress=progress, callback=step_callback
        )
        models.append(trainer.g_ema)
    return models


def displacement(theta_n: nn.Module, theta_g: dict[str, torch.Tensor], anchored: list[str]) -> dict[str, float]:
    """||θ_N − θ_G|| over all parameters, over the EWC-anchored ones and over the others, in float64.

    Recorded with every θ_N because it shows what the EWC did: at the authors' λ = 5e8 it holds the
    anchored StyledConv layers at θ_G on the shipped digits model (they moved 0.004 of 34), so that
    stage 1 adapts only the mapping network, the first conv, the ToRGBs and the constant input."""
    held = set(anchored)
    sums = {"all": 0.0, "anchored": 0.0, "free": 0.0}
    for name, p in theta_n.named_parameters():
        squared = float((p.detach().double() - theta_g[name].double()).square().sum())
        sums["all"] += squared
        sums["anchored" if name in held else "free"] += squared
    return {group: total**0.5 for group, total in sums.items()}


def _finished(sub: Path, steps: int) -> bool:
    path = sub / MODEL_FILE
    return path.is_file() and int(ckpt.load_atu(path).metadata.get("step", -1)) >= steps


def _load_or_compute_fisher(
    path: Path, theta_g: nn.Module, d_pretrained: nn.Module, cfg: AdaptConfig, seed: int, progress: bool = False
) -> dict[str, torch.Tensor]:
    """F is a constant of the run: computed once and saved, so that a resumed run uses the very
    same tensor (a recomputation could differ in the last bits on another thread count)."""
    wanted = {"samples": cfg.fisher_samples, "seed": seed, "output": cfg.fisher_output, "layers": cfg.fisher_layers}
    device = next(theta_g.parameters()).device
    if path.is_file():
        stored = ckpt.load_atu(path)
        if stored.metadata.get("fisher") == wanted:
            return {name: t.to(device) for name, t in stored.state_dicts["fisher"].items()}
    fisher = fisher_of(theta_g, d_pretrained, cfg, seed, progress=progress)
    ckpt.save(
        path,
        kind="fisher",
        config={"generator": theta_g.config()},
        state_dicts={"fisher": fisher},
        metadata={"fisher": wanted},
    )
    return fisher
