"""What sets the share of 8s left after stage 2 on the demo's digits model? Variants of stage 2,
measured every --every steps as the demo evaluates (8s among the 10,000 samples of the PUL bank,
classifier-feature FID on 3,000), and where g_ema sits relative to the extrapolation direction u = θ_G − mean_j θ_N^j
(s_eff = <θ − θ_G, u>/|u|², cos = the cosine between θ − θ_G and u).

It drives the product's own pieces (StyleGAN2Trainer, atu_ext.Repulsion, the stage inputs) and
adds the variants that are not product options, each a few lines here:
  --init-scale s   start from the extrapolated θ_G + s·u ("extrapolate, then repair")
  --decoupled      the product's `decoupled` option (atu.stages.unlearn.DecoupledRepulsion): the EL2 step
                   θ ← θ − lr·γ·∇L_rep after Adam's, as AdamW decouples weight decay
  --negatives w    negative data augmentation: one extra D step per iteration on a batch of the
                   feedback's undesired images labelled fake, weight w (not Adapt-then-Unlearn)
  --d-warmup N     N discriminator steps against the frozen θ_G before stage 2 starts (R1 every 16th)
  --n-critic k     k discriminator steps per generator step (the extra ones without R1)
  --batch B        batch size (default 16, the demo's)
  --mixing P       style-mixing probability (default 0.9, StyleGAN2's and the demo's)
  --path-length w  path-length regularisation weight (default 2)

Inputs: a demo folder (`atu demo --out DIR` writes DIR/no8/feedback.safetensors and
DIR/no8/seed_0/adapt/model_{0,1}). Results: bench/results/experiments/cpu-2core-epyc-stage2-limits.md.

  python bench/experiments/stage2_limits.py adv --demo DIR                          # adversarial only
  python bench/experiments/stage2_limits.py el2 --demo DIR --gamma 100 --alpha 1e-4
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import atu_ext
from atu import assets
from atu.classifiers import load_classifier, predict
from atu.data import load_dataset
from atu.eval.evaluate import generator_statistics
from atu.eval.extractors import classifier_extractor
from atu.eval.fid import frechet_distance
from atu.eval.pul import count_undesired
from atu.eval.reference_stats import image_statistics
from atu.gan.sampling import Batches
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.stages.inputs import load_adapted, load_feedback_images, load_pretrained
from atu.stages.unlearn import DecoupledRepulsion, RepulsionGradient

UNDESIRED = 8
N_BANK, N_FID, BANK_SEED = 10_000, 3_000, 0  # the demo's evaluation settings


def flat(module) -> torch.Tensor:
    return torch.cat([p.detach().double().flatten() for p in module.parameters()])


class Judge:
    """The demo's evaluation of one generator: undesired samples in the 10,000-seed PUL bank
    (seed 0) and FID (classifier features) on 3,000 samples (seed 1) against the digits without
    the class; so at the demo's own settings a run here reproduces the demo's numbers."""

    def __init__(self):
        self.classifier = load_classifier(assets.path(assets.SHIPPED["digits"].classifier)).eval()
        self.extractor = classifier_extractor(self.classifier)
        real = load_dataset("digits", resolution=32, exclude_classes=[UNDESIRED]).images()
        self.real_stats = image_statistics(self.extractor, real)

    def __call__(self, G) -> dict:
        G = copy.deepcopy(G).eval()
        n = count_undesired(G, lambda x: predict(self.classifier, x) == UNDESIRED, n=N_BANK, seed=BANK_SEED)
        fake = generator_statistics(self.extractor, G, N_FID, BANK_SEED + 1)
        return {
            "undesired": n,
            "share": round(100 * n / N_BANK, 2),
            "fid": round(frechet_distance(*fake, *self.real_stats), 2),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--demo", required=True, help="an `atu demo --out` folder (class 8, with --seed among its seeds)")
    p.add_argument("--seed", type=int, default=0, help="the demo seed whose θ_N are used; also seeds training")
    p.add_argument("--gamma", type=float, default=0.0)
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=1600)
    p.add_argument("--every", type=int, default=400)
    training = p.add_argument_group("training (TrainConfig's settings of the same names)")
    training.add_argument("--lr", type=float, default=5e-4)
    training.add_argument("--ema-half-life", dest="ema_half_life_kimg", type=float, default=1.0)
    training.add_argument("--r1", type=float, default=10.0)
    p.add_argument("--d-lr", type=float, default=None, help="D's learning rate (default: --lr)")
    p.add_argument("--feedback", help="feedback bundle (default: the demo's)")
    p.add_argument("--init-scale", type=float, default=0.0)
    p.add_argument("--decoupled", action="store_true")
    p.add_argument("--negatives", type=float, default=0.0)
    p.add_argument("--d-warmup", type=int, default=0)
    p.add_argument("--n-critic", type=int, default=1)
    training.add_argument("--batch", dest="batch_size", type=int, default=16)
    training.add_argument("--mixing", type=float, default=0.9)
    training.add_argument("--path-length", dest="path_regularize", type=float, default=2.0)
    a = p.parse_args()
    torch.set_num_threads(1)

    demo = Path(a.demo) / f"no{UNDESIRED}"
    feedback = a.feedback or demo / "feedback.safetensors"
    theta_g, D = load_pretrained(assets.path(assets.SHIPPED["digits"].generator))
    refs = load_adapted(
        [demo / f"seed_{a.seed}" / "adapt" / f"model_{j}" / "model.safetensors" for j in range(2)], theta_g
    )
    means = [sum(r[i] for r in refs) / len(refs) for i in range(len(refs[0]))]
    start = flat(theta_g)
    u = start - torch.cat([m.double().flatten() for m in means])
    if a.init_scale:
        with torch.no_grad():
            for p_, m_ in zip(theta_g.parameters(), means):
                p_.add_(a.init_scale * (p_ - m_))
    G, g_ema = copy.deepcopy(theta_g), copy.deepcopy(theta_g)
    grad_hook = step_hook = None
    if a.gamma > 0:
        rep = atu_ext.Repulsion(list(G.parameters()), refs, kind="el2", alpha=a.alpha, reduction="sum")
        if a.decoupled:
            step_hook = DecoupledRepulsion(rep, a.gamma, a.lr)
        else:
            grad_hook = RepulsionGradient(rep, a.gamma)
    config = TrainConfig(**{action.dest: getattr(a, action.dest) for action in training._group_actions})
    trainer = StyleGAN2Trainer(G, D, config, g_ema=g_ema, seed=a.seed, g_grad_hook=grad_hook, g_step_hook=step_hook)
    if a.d_lr is not None:
        for group in trainer.d_optim.param_groups:  # keep the lazy-R1 correction of the rate
            group["lr"] = a.d_lr * trainer.config.d_reg_every / (trainer.config.d_reg_every + 1)
    positives = Batches.of_tensor(load_feedback_images(feedback, 32, "positives"), a.batch_size, a.seed)
    negatives = Batches.of_tensor(load_feedback_images(feedback, 32, "negatives"), a.batch_size, a.seed + 1000)
    judge, began = Judge(), time.time()
    for k in range(a.d_warmup):
        trainer.discriminator_step(positives.next(), regularize=k % trainer.config.d_reg_every == 0)
    while trainer.step < a.steps:
        for _ in range(a.n_critic - 1):
            trainer.discriminator_step(positives.next())
        logs = trainer.train_step(positives.next())
        if a.negatives > 0:
            D.requires_grad_(True)
            trainer.d_optim.zero_grad(set_to_none=True)
            (a.negatives * F.softplus(D(negatives.next())).mean()).backward()
            trainer.d_optim.step()
        if trainer.step % a.every == 0:
            moved = flat(g_ema) - start
            record = {
                "name": a.name,
                "seed": a.seed,
                "step": trainer.step,
                "seconds": round(time.time() - began),
                **judge(g_ema),
                "s_eff": round(float(moved @ u / (u @ u)), 3),
                "cos": round(float(moved @ u / (moved.norm() * u.norm())), 3),
                "d_loss": round(logs["d_loss"], 4),
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
