"""`atu latent-unlearn`: latent feature unlearning (Moon, Cho, Kim, AAAI 2024), the competing family
of methods, as a baseline next to Adapt-then-Unlearn, resumably.

In W (the mapping network's output; the mapping stays frozen):
1. The feedback bundle's latents z are mapped to w; the feature's direction is
   z_e = mean w over the samples marked undesired (the feature is present) − mean w over the others,
   u = z_e/||z_e||, proj(w) = uᵀw, threshold t = the midpoint of the two sets' mean projections,
   sim(w) = 1[proj(w) ≥ t]. The ROC-AUC of proj against the marks says how well this one direction
   separates them (recorded in run.json and direction.json).
2. The synthesis network g, initialised from f = θ_G (f frozen), is fine-tuned on fresh seeded
   latents with  L = α·(L_unlearn + L_percep) + L_recon,  L_recon = (1 − sim)·|g(w) − f(w)|₁,
   L_unlearn = sim·|g(w) − f(ŵ)|₁, L_percep = sim·(1 − MS-SSIM(g(w), f(ŵ))), ŵ = w − (proj(w) − t)·u:
   latents with the feature learn to draw what f draws at their shifted latent; the others keep f's
   image. atu/latent/ has the pieces (direction.py, losses.py, msssim.py, training.py).

Defaults: α = 3 (the paper's MNIST value; 300 for its face data), Adam (β = 0.9, 0.999) with
lr 5e-4, the top of the paper's 1e-4..5e-4 range: short CPU runs need the faster one; batch 16,
1,000 steps. Noise: every step draws fresh per-sample noise inputs (seeded by seed and step, like
the latents) and gives g and f the same ones, so g learns the edit for the random noise it will be
sampled with, and the L1 compares images that differ only by the network. One process (no
torchrun: the run is small next to the StyleGAN2 stages).

On the digits model the direction separates the marks poorly (docs/results.md, "Behind the defaults").
"8" is not one linear direction in this model's W; on attributes the paper's data have (bangs,
glasses) the direction is what the method relies on.

Folder (gan/run.py's layout): run.json (configuration, inputs, the direction's summary),
direction.json, checkpoint.safetensors, log.jsonl ("loss", "recon", "unlearn", "percep", "sim" =
the share of the batch on the feature side), samples/, and at the end model.safetensors: g as g_ema
(the mapping unchanged) and the pre-trained d, readable wherever a generator checkpoint is.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint.feedback_bundle import load_bundle
from ..gan.run import Schedule, TrainingRun, check_folder, describe_inputs, fixed_latents, write_run_file
from ..gan.steps import StepCallback, train_steps
from ..stages.inputs import check_feedback_matches, load_pretrained, require_file
from ..util import settings
from ..util.atomic import write_text
from ..util.settings import setting
from ..util.validate import positive, positive_int, seed_value
from . import FeatureDirection, LatentBatches, LatentUnlearnTrainer

DIRECTION_FILE = "direction.json"


@dataclass
class LatentConfig:
    steps: int = setting(1000, help="training steps", check=positive_int)
    alpha: float = setting(
        3.0, help="α of α·(L_unlearn + L_percep) (the paper: 3 for MNIST)", check=positive, label="alpha (α)"
    )
    lr: float = setting(
        5e-4, help="Adam learning rate of the synthesis network (the paper: 1e-4 to 5e-4)", check=positive
    )
    batch_size: int = setting(16, help="latents per step", flag="--batch", check=positive_int)
    seed: int = setting(0, help="seed", check=seed_value)

    def __post_init__(self):
        settings.check_fields(self)

    def to_dict(self) -> dict:
        return settings.to_dict(self)


def fit_direction(G, feedback: str | os.PathLike, device, gen: dict | None = None) -> tuple[FeatureDirection, dict]:
    """The feature's direction from the bundle's latents mapped by G's (frozen) mapping network,
    and its summary (sizes, t, ROC-AUC)."""

    bundle = load_bundle(feedback)
    if gen is not None:  # the latents mean something only for the generator they came from
        check_feedback_matches(bundle, feedback, gen, G.size)
    return direction_of(G, bundle, device, where=f"--feedback {feedback}")


def direction_of(G, bundle, device, where: str = "the bank") -> tuple[FeatureDirection, dict]:
    """The feature's direction in G's W space from a marked bank (a FeedbackBundle of G's samples),
    and its summary (sizes, t, ROC-AUC)."""
    if bundle.latents.shape[1] != G.style_dim:
        raise ValueError(
            f"{where}: its latents have {bundle.latents.shape[1]} values, the "
            f"generator's style_dim is {G.style_dim}; the feedback must come from this generator"
        )
    bundle.require_both_kinds(where)
    with torch.no_grad():
        w = G.style(bundle.latents.to(device))
    direction = FeatureDirection.fit(w, bundle.undesired)
    return direction, direction.summary(w, bundle.undesired)


def latent_unlearn_generator(
    G, D, bundle, cfg: LatentConfig = LatentConfig(), *, progress: bool = True, callback: StepCallback | None = None
):
    """Latent feature unlearning over modules: a copy of G whose synthesis network is trained away
    from the feature's direction (fitted on the marked `bundle`), exactly as `atu latent-unlearn`
    trains it, nothing written. G and D are left as they are."""
    f = copy.deepcopy(G)
    device = next(f.parameters()).device
    direction, _ = direction_of(f, bundle, device)
    trainer = LatentUnlearnTrainer(copy.deepcopy(f), f, copy.deepcopy(D), direction, alpha=cfg.alpha, lr=cfg.lr)
    batches = LatentBatches(f, cfg.batch_size, cfg.seed)
    train_steps(
        trainer, batches, cfg.steps, desc=f"latent-unlearn α={cfg.alpha:g}", progress=progress, callback=callback
    )
    return trainer.G


def latent_unlearn(
    gen: str | os.PathLike,
    feedback: str | os.PathLike,
    out: str | os.PathLike,
    cfg: LatentConfig = LatentConfig(),
    *,
    resume: bool = False,
    device: str = "cpu",
    schedule: Schedule = Schedule(),
    progress: bool = True,
) -> Path:
    """Runs (or continues) latent unlearning in `out`; returns model.safetensors."""
    out = Path(out)
    gen, feedback = require_file(gen, "--gen"), require_file(feedback, "--feedback")
    inputs = describe_inputs({"gen": gen, "feedback": feedback})
    check_folder(out, cfg.to_dict(), resume=resume, inputs=inputs)
    f, D = load_pretrained(gen, device)
    direction, summary = fit_direction(f, feedback, device, gen=inputs["gen"])
    g = copy.deepcopy(f)
    trainer = LatentUnlearnTrainer(g, f, D, direction, alpha=cfg.alpha, lr=cfg.lr)
    metadata = {"stage": "latent_unlearn", "run": cfg.to_dict(), "inputs": inputs, "direction": summary}
    run = TrainingRun(
        out,
        trainer,
        LatentBatches(f, cfg.batch_size, cfg.seed),
        steps=cfg.steps,
        metadata=metadata,
        schedule=schedule,
        desc=f"latent-unlearn α={cfg.alpha:g}",
        sample_latents=fixed_latents(f.style_dim, cfg.seed, device),
        show=("loss", "recon", "unlearn", "sim"),
        progress=progress,
    )
    if resume:
        run.restore()
    else:
        write_run_file(
            out, {"stage": "latent_unlearn", "config": cfg.to_dict(), "inputs": inputs, "direction": summary}
        )
        write_text(out / DIRECTION_FILE, json.dumps(summary, indent=2))
    run.run()
    return run.finish()
