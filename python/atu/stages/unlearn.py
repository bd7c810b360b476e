"""`atu unlearn`: stage 2 of Adapt-then-Unlearn, unlearning by repulsion, resumably.

From θ_G (the pre-trained checkpoint's g_ema, which also starts G and its EMA) and its D, train on
the POSITIVE feedback images: the StyleGAN2 adversarial loss (gan/trainer.py) plus γ·L_rep(θ),
with d the squared distance between θ (all generator parameters) and the k adapted models of
stage 1, averaged over them, and

    el2: L_rep = exp(−α d)      il2: L_rep = 1/d      nl2: L_rep = −d.

The repulsion is atu_ext.Repulsion: the references are collapsed once into their mean (no file is
read inside the loop) and its gradient γ·∂L_rep/∂θ goes straight into G's gradients after the
adversarial backward. γ = 0 is the adversarial-only ablation: no repulsion object at all, so the
run is exactly plain StyleGAN2 fine-tuning on the positives.

How d is reduced (`--reduction`): "sum" is the paper's ||θ − θ_N||²; "mean" divides by the number
of values; "tensor_mean" (default) averages each tensor's mean squared difference over the P
tensors, as the authors' code does. tensor_mean keeps d on the same scale whatever the model's
width (our narrow digits models and the authors' full-width ones have the same P tensors of the
same roles), so the authors' constants carry over; with "sum" d grows with the parameter count
and γ, α would need retuning per model.

The authors' constants in our terms: their repulsion value is
v = (k/2P)·Σ_j Σ_t mean((θ_N^j − θ)²) = (k²/2)·d with our tensor_mean d; their EL2 loss
100·exp(−γ_a·v) (γ_a ≈ 1 in their examples) is el2 with γ = 100, α = γ_a·k²/2 (2 at k = 2); their
IL2 γ_a/v is il2 with γ = 2γ_a/k²; their NL2 −γ_a·v is nl2 with γ = γ_a·k²/2.

Defaults: el2, tensor_mean, α = 2 (the authors' at k = 2), γ = 10 (a tenth of theirs), 1,000 steps.
d starts at the size of the adaptation (small: EWC keeps θ_N near θ_G), where exp(−α d) ≈ 1 − α d:
EL2 begins as a push of strength γα away from the mean of the θ_N and fades once d passes 1/α.
Adam moves every parameter at up to its learning rate whatever the gradient's scale, so a push
that outweighs the adversarial gradient on many (small) tensors moves them all at full speed.
The authors' weight γ = 100 wrecks a narrow model's quality within a few hundred steps; γ = 10
removes more than the ablation at a small cost (docs/results.md, "Behind the defaults"). How far
to push is a per-model choice: raise γ (or the steps) for more removal, lower it for quality.

Under torchrun (several processes) the run is data-parallel: every rank computes a share of each
batch, gradients are averaged (atu/util/distributed.py, gan/trainer.py), the repulsion is added once
after the averaging, and only rank 0 writes the folder; the batch size must divide evenly.

Which reduction: "tensor_mean" weighs each tensor's values by 1/(its size), so a bias or a
1-value noise strength gets thousands of times the weight of a convolution's values. Adam moves
every value whose repulsion gradient outweighs its adversarial one at the full learning rate,
whatever (θ − θ_N) is there: with tensor_mean the small tensors drift steadily in directions set
by tiny, noisy differences. "sum" (the paper's ||θ − θ_N||²) weighs every value alike, so the push
is largest where adaptation moved the model most (for the digits model: the mapping network).
`atu demo`'s `el2` uses sum with the decoupled step below (α = 1e-4, γ = 6,000); its module gives the
measurements.

Decoupled (`--decoupled`): the repulsion is not added to the gradient Adam normalises but taken as
its own step after Adam's, θ ← θ − lr·γ·∂L_rep/∂θ (DecoupledRepulsion), as AdamW applies weight
decay. Coupled, Adam moves each value by up to the learning rate in the sign of its own (θ − θ_N)
once the repulsion dominates its gradient, and the adversarial drift alone soon carries d past
1/α, which ends an EL2 push; decoupled, the step is proportional to (θ − θ_N) and its size is set
by lr·γ·α·exp(−α d). On the digits demo it removes more at a lower FID than the coupled form
(docs/results.md).

Folder (gan/run.py's layout): run.json, checkpoint.safetensors, log.jsonl ("repulsion" = L_rep
each step, "d" each log step), samples/, and at the end model.safetensors: θ_P (g_ema) and d.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import atu_ext

from ..checkpoint.feedback_bundle import load_bundle
from ..classifiers import load_classifier
from ..classifiers.judges import ClassJudge, Judge, MeasureJudge
from ..gan.run import Schedule, TrainingRun, check_folder, describe_inputs, fixed_latents, write_run_file
from ..gan.sampling import Batches
from ..gan.steps import StepCallback, train_steps
from ..gan.trainer import StyleGAN2Trainer, TrainConfig
from ..models.fits import require_batch_fits
from ..util import distributed, settings
from ..util.settings import setting
from ..util.validate import boolean, non_negative, positive, positive_int, seed_value
from .inputs import adapted_model_files, load_adapted, load_feedback_images, load_pretrained, require_file
from .memory import warn_if_tight
from .redaction import SOURCES as REDACT_SOURCES
from .redaction import MarkedFakesAsFakes, NegativesAsFakes

KINDS = ("el2", "il2", "nl2")
REDUCTIONS = atu_ext.penalties.REDUCTIONS


@dataclass
class UnlearnConfig:
    kind: str = setting("el2", choices=KINDS, help="el2: exp(−α d), il2: 1/d, nl2: −d")
    alpha: float = setting(
        atu_ext.penalties.DEFAULT_ALPHA, help="α of el2 (ignored by il2, nl2)", check=positive, label="alpha (α)"
    )
    gamma: float = setting(
        10.0, help="γ, the repulsion weight; 0 = adversarial only", check=non_negative, label="gamma (γ)"
    )
    reduction: str = setting(
        atu_ext.penalties.DEFAULT_REDUCTION,
        choices=REDUCTIONS,
        help="how d is reduced: tensor_mean (the authors' code), sum (the paper's norm), mean",
    )
    steps: int = setting(1000, help="training steps", check=positive_int)
    train: TrainConfig = setting(default_factory=TrainConfig, help="StyleGAN2's training knobs")
    seed: int = setting(0, help="seed", check=seed_value)
    # only recorded when set, so run folders of the default keep their recorded config
    decoupled: bool = setting(
        False,
        help="apply the repulsion as its own step θ -= lr·γ·∇L_rep after Adam's step "
        "(as AdamW's weight decay) instead of adding it to the gradient Adam "
        "normalises",
        check=boolean,
        record_default=False,
    )
    redact: float = setting(
        0.0,
        help="redaction weight w: D also counts the feature's samples as fakes with "
        "weight w (atu/stages/redaction.py); 0 = off",
        check=non_negative,
        record_default=False,
    )
    redact_source: str = setting(
        "negatives",
        choices=REDACT_SOURCES,
        help="the feature's samples for redaction: the feedback's marked negatives, or "
        "G's fakes relabelled online by --labeller",
        record_default=False,
    )

    def __post_init__(self):
        settings.check_fields(self)

    def to_dict(self) -> dict:
        return settings.to_dict(self)


class RepulsionGradient:
    """The trainer's g_grad_hook for stage 2: adds γ·∂L_rep/∂θ into G's gradients and reports
    L_rep as "repulsion"."""

    def __init__(self, repulsion, gamma: float):
        self.repulsion, self.gamma = repulsion, gamma

    def __call__(self, G: nn.Module) -> dict[str, float]:
        return {"repulsion": float(self.repulsion.add_grad_(scale=self.gamma))}


class DecoupledRepulsion:
    """The trainer's g_step_hook for stage 2 with `decoupled`: after Adam's step on the adversarial
    gradient, θ ← θ − lr·γ·∂L_rep/∂θ, as AdamW applies weight decay (Loshchilov & Hutter, 2019).

    Why: Adam divides each value's step by the running RMS of its gradient, so a penalty added to the
    gradient moves a value at up to the learning rate in the sign of its own (θ − θ_N), whatever
    that difference's size; the direction of −∇L_rep is lost (docs/results.md has its cosine on the
    digits demo). Decoupled, the repulsion's step is exactly −lr·γ·∇L_rep: values
    move in proportion to how far adaptation moved them. γ is on another scale than in the coupled
    form (here it multiplies a plain gradient step; the demo's measurements are in atu/study/demo.py)."""

    def __init__(self, repulsion, gamma: float, lr: float):
        self.repulsion, self.gamma, self.lr = repulsion, gamma, lr
        self.params = repulsion.params

    @torch.no_grad()
    def __call__(self, G: nn.Module) -> dict[str, float]:
        for p in self.params:  # the adversarial gradient has been applied: reuse .grad as scratch
            p.grad = None
        loss = self.repulsion.add_grad_(scale=-self.lr * self.gamma)
        torch._foreach_add_(self.params, [p.grad for p in self.params])
        for p in self.params:
            p.grad = None
        return {"repulsion": float(loss)}


def unlearning_trainer(
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    references: list[list[torch.Tensor]],
    cfg: UnlearnConfig,
    *,
    d_hook=None,
    parallel=None,
):
    """Stage 2's trainer and its repulsion (None at γ = 0): G and its EMA start from θ_G, the D
    given is trained in place, the repulsion (cfg.kind, α, reduction) from the adapted models'
    parameters `references` goes into G's gradient, or after Adam's step when cfg.decoupled.
    `d_hook` is a redaction D-loss hook (stages/redaction.py), `parallel` the data-parallel group."""
    G, g_ema = copy.deepcopy(theta_g), copy.deepcopy(theta_g)
    repulsion = None
    if cfg.gamma > 0:
        if not references:
            raise ValueError("stage 2 with repulsion (γ > 0) needs the adapted models; only γ = 0 runs without them")
        repulsion = atu_ext.Repulsion(
            list(G.parameters()), references, kind=cfg.kind, alpha=cfg.alpha, reduction=cfg.reduction
        )
    grad_hook = step_hook = None
    if repulsion is not None and cfg.decoupled:
        step_hook = DecoupledRepulsion(repulsion, cfg.gamma, cfg.train.lr)
    elif repulsion is not None:
        grad_hook = RepulsionGradient(repulsion, cfg.gamma)
    trainer = StyleGAN2Trainer(
        G,
        d_pretrained,
        cfg.train,
        g_ema=g_ema,
        seed=cfg.seed,
        g_grad_hook=grad_hook,
        g_step_hook=step_hook,
        d_loss_hook=d_hook,
        data_parallel=parallel,
    )
    return trainer, repulsion


def unlearn_generator(
    theta_g: nn.Module,
    d_pretrained: nn.Module,
    positives: torch.Tensor,
    adapted: list[nn.Module],
    cfg: UnlearnConfig = UnlearnConfig(),
    *,
    negatives: torch.Tensor | None = None,
    labeller: Judge | None = None,
    progress: bool = True,
    callback: StepCallback | None = None,
) -> nn.Module:
    """Stage 2 over modules and tensors: θ_G trained on `positives` (images in [-1, 1], on θ_G's
    device) and repelled from the `adapted` generators (stage 1's), exactly as `atu unlearn` trains
    it, nothing written; returns the unlearned generator (the EMA, as `atu unlearn` saves).
    Redaction (cfg.redact > 0) takes `negatives` (redact_source "negatives") or `labeller`, the
    judge that marked the feedback, which marks G's fakes (redact_source "labeller").
    θ_G and `d_pretrained` are left as they are (copies are trained)."""

    references = [[p.detach() for p in model.parameters()] for model in adapted]
    d_hook = None
    if cfg.redact > 0 and cfg.redact_source == "negatives":
        if negatives is None:
            raise ValueError("redaction from the negatives (redact_source 'negatives') needs `negatives`")
        d_hook = NegativesAsFakes(negatives, cfg.redact, cfg.seed)
    elif cfg.redact > 0:
        if labeller is None:
            raise ValueError("redaction by the labeller (redact_source 'labeller') needs `labeller`")
        d_hook = MarkedFakesAsFakes(labeller, cfg.redact)
    trainer, _ = unlearning_trainer(theta_g, copy.deepcopy(d_pretrained), references, cfg, d_hook=d_hook)
    batches = Batches.of_tensor(positives, cfg.train.batch_size, cfg.seed)
    train_steps(
        trainer, batches, cfg.steps, desc=f"unlearn {cfg.kind} γ={cfg.gamma:g}", progress=progress, callback=callback
    )
    return trainer.g_ema


def distance_logger(G: nn.Module, references: list[list[torch.Tensor]], reduction: str, repulsion=None):
    """extra_logs for the run: d between G and the adapted models, computed only on log steps
    (with the repulsion's prepared mean when there is one)."""
    params = list(G.parameters())

    @torch.no_grad()
    def log() -> dict[str, float]:
        d = repulsion.distance() if repulsion is not None else atu_ext.sq_dist(params, references, reduction=reduction)
        return {"d": float(d)}

    return log


def redaction_hook(
    cfg: UnlearnConfig, feedback: Path, inputs: dict, resolution: int, device: str, labeller: Path | None, parallel
):
    """The D-loss hook of `cfg.redact` (None when off): the feedback's negatives, or the labeller
    that made the feedback, applied online to G's fakes with the bundle's class and rule."""

    if cfg.redact == 0:
        return None
    if cfg.redact_source == "negatives":
        negatives = load_feedback_images(feedback, inputs["gen"], resolution, "negatives").to(device)
        return NegativesAsFakes(
            negatives,
            cfg.redact,
            cfg.seed,
            share=parallel.share if parallel else None,
            global_batch=cfg.train.batch_size,
        )

    record = load_bundle(feedback).metadata.get("labeller") or {}
    if record.get("kind") == "measure":  # a measurement marked the feedback: it marks G's fakes too
        return MarkedFakesAsFakes(MeasureJudge.of_record(record), cfg.redact)
    if record.get("kind") != "classifier":
        raise ValueError(
            f"--feedback {feedback}: labelled by {record.get('kind', 'an unknown labeller')}, not by a "
            f"classifier or a measurement; redact_source labeller relabels G's samples with the feedback's "
            f"labeller, so label the bank with `atu feedback --classifier` or use redact_source negatives"
        )
    if labeller is None:
        raise ValueError("redact_source labeller needs --labeller, the classifier that labelled the feedback")
    recorded = record.get("sha256")
    if recorded is not None and recorded != inputs["labeller"]["sha256"]:
        raise ValueError(
            f"--labeller {labeller} is not the classifier that labelled --feedback {feedback} "
            f"(sha256 {recorded[:12]}…, {record.get('path', 'another file')}); pass that file"
        )
    classifier = load_classifier(labeller).to(device)
    judge = ClassJudge(classifier, int(record["undesired_class"]), threshold=record.get("threshold"), file=labeller)
    return MarkedFakesAsFakes(judge, cfg.redact)


def unlearn(
    gen: str | os.PathLike,
    adapted,
    feedback: str | os.PathLike,
    out: str | os.PathLike,
    cfg: UnlearnConfig = UnlearnConfig(),
    *,
    resume: bool = False,
    device: str = "cpu",
    schedule: Schedule = Schedule(),
    progress: bool = True,
    labeller: str | os.PathLike | None = None,
) -> Path:
    """Runs (or continues) stage 2 in `out`; returns θ_P's file (model.safetensors).

    `adapted`: the --out folder of `atu adapt`, or a list of θ_N files; None (or []) only when γ = 0,
    which needs no adapted models (adversarial fine-tuning, with redaction or without).
    `labeller`: the classifier file that labelled the feedback, for redact_source "labeller" (none when
    a measurement labelled it: the feedback records the measure and threshold)."""
    out = Path(out)
    gen, feedback = require_file(gen, "--gen"), require_file(feedback, "--feedback")
    if not adapted and cfg.gamma > 0:
        raise ValueError("--adapted: no adapted models given; only γ = 0 (no repulsion) runs without them")
    files = adapted_model_files(adapted) if adapted else []
    if cfg.redact > 0 and cfg.redact_source == "labeller" and labeller is None:
        if (load_bundle(feedback).metadata.get("labeller") or {}).get("kind") != "measure":
            raise ValueError("redact_source labeller needs --labeller, the classifier that labelled the feedback")
    named = {"gen": gen, "feedback": feedback, "adapted": files}
    if labeller is not None and cfg.redact > 0 and cfg.redact_source == "labeller":
        named["labeller"] = require_file(labeller, "--labeller")
    inputs = describe_inputs(named)
    check_folder(out, cfg.to_dict(), resume=resume, inputs=inputs)
    distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
    parallel = distributed.DataParallel.from_process_group()
    theta_g, D = load_pretrained(gen, device)
    require_batch_fits(theta_g, cfg.train.batch_size, device, "--batch", training=True)  # before any work
    warn_if_tight(theta_g, D, cfg.train.batch_size, "unlearn", k=len(files), device=device)
    positives = load_feedback_images(feedback, inputs["gen"], theta_g.size, "positives").to(device)
    references = load_adapted(files, theta_g) if files else []
    d_hook = redaction_hook(cfg, feedback, inputs, theta_g.size, device, named.get("labeller"), parallel)
    trainer, repulsion = unlearning_trainer(theta_g, D, references, cfg, d_hook=d_hook, parallel=parallel)
    G = trainer.G
    metadata = {"stage": "unlearn", "run": cfg.to_dict(), "inputs": inputs}
    run = TrainingRun(
        out,
        trainer,
        Batches.of_tensor(positives, cfg.train.batch_size, cfg.seed),
        steps=cfg.steps,
        metadata=metadata,
        schedule=schedule,
        desc=f"unlearn {cfg.kind} γ={cfg.gamma:g}",
        sample_latents=fixed_latents(G.style_dim, cfg.seed, device),
        extra_logs=distance_logger(G, references, cfg.reduction, repulsion) if references else None,
        show=("d_loss", "g_loss", "repulsion", "d", "redact"),
        progress=progress,
    )
    if resume:
        run.restore()
    elif distributed.is_main():
        write_run_file(
            out,
            {
                "stage": "unlearn",
                "config": cfg.to_dict(),
                "inputs": inputs,
                "n_positives": positives.shape[0],
                "processes": distributed.world_size(),
            },
        )
    run.run()
    path = run.finish()
    distributed.barrier()  # the model file exists before any rank returns its path
    return path
