"""Does the feature come back under attack? Projected gradient descent on the generator's latent
input, as in Moon, Cho, Kim (AAAI 2024): push the latent z within an L∞ ball of radius ε so that a
classifier sees the feature, then count how many samples a SECOND judge reads as the feature: a
classifier trained with another seed, so the attack cannot merely exploit the first one's quirks, or
for a measured feature the measurement itself (the attacker then is the feature's classifier, atu
train-classifier --feature).

    δ_0 = 0;  δ_{k+1} = clip_[−ε, ε]( δ_k − η · sign ∇_δ CE(C(G(z + δ_k)), feature) ),  k < K

with the paper's K = 50 steps, η = 0.02 and ε = 0.1. The latent attacked is z, the input of the
whole generator (mapping and synthesis): what a user of a released generator controls. Each
sample's noise inputs are drawn once and held fixed, so only the latent moves. The start is δ = 0,
so "before" is exactly the unattacked sample and the run is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..classifiers.inference import prepare
from ..classifiers.judges import ClassJudge, Judge
from ..util.settings import check_fields, setting
from ..util.settings import to_dict as record
from ..util.validate import non_negative, non_negative_int, positive, positive_int, seed_value

DEFAULT_STEPS, DEFAULT_STEP_SIZE, DEFAULT_RADIUS = 50, 0.02, 0.1


def pgd_latent(
    render: Callable[[torch.Tensor], torch.Tensor],
    logits_of: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    target: int,
    *,
    steps: int = DEFAULT_STEPS,
    step_size: float = DEFAULT_STEP_SIZE,
    radius: float = DEFAULT_RADIUS,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """The attacked latents z + δ (||δ||∞ ≤ radius) after `steps` signed-gradient steps lowering
    the cross-entropy of logits_of(render(z + δ)) toward class `target`. `on_step(k, δ)` sees δ
    after every step (for checks and progress)."""
    if steps < 0 or step_size <= 0 or radius < 0:
        raise ValueError(f"steps must be >= 0, step_size > 0 and radius >= 0; got {steps}, {step_size}, {radius}")
    z = z.detach()
    labels = torch.full((z.shape[0],), target, dtype=torch.long, device=z.device)
    delta = torch.zeros_like(z)
    for k in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(logits_of(render(z + delta)), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() - step_size * grad.sign()).clamp(-radius, radius)
        if on_step is not None:
            on_step(k + 1, delta)
    return z + delta


def _logits(classifier) -> Callable[[torch.Tensor], torch.Tensor]:
    classifier.eval()
    return lambda images: classifier(prepare(classifier, images))


def attack_feature_ratio(
    G,
    attacker: ClassJudge,
    judge: Judge,
    *,
    n: int = 500,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    step_size: float = DEFAULT_STEP_SIZE,
    radius: float = DEFAULT_RADIUS,
    batch_size: int = 100,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """The feature ratio (percent) of n seeded samples of G before and after the attack toward the
    attacker's class, judged by `judge` (and, for reference, by the `attacker` itself)."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got {n} and {batch_size}")
    like = G.input.input
    counts = {"judge_before": 0, "judge_after": 0, "attacker_before": 0, "attacker_after": 0}
    was_training = G.training
    G.eval()
    try:
        for start in range(0, n, batch_size):
            # the samples of G.sample(n, seed): "before" is G's own feature ratio on those seeds
            z, noise = G.sample_inputs(seed, start, min(start + batch_size, n))
            z = z.to(like)
            render = lambda latents: G([latents], noise=noise)[0]  # noqa: E731
            which = f"samples {start}..{start + z.shape[0] - 1} of seed {seed}"
            with torch.no_grad():
                before = G.require_finite(render(z), which)
            z_adv = pgd_latent(
                render,
                _logits(attacker.classifier),
                z,
                attacker.undesired,
                steps=steps,
                step_size=step_size,
                radius=radius,
            )
            with torch.no_grad():
                after = G.require_finite(render(z_adv), f"{which}, attacked")
                for name, who in (("judge", judge), ("attacker", attacker)):
                    counts[f"{name}_before"] += int(who.holds(before).sum())
                    counts[f"{name}_after"] += int(who.holds(after).sum())
            if progress is not None:
                progress(z.shape[0])
    finally:
        G.train(was_training)
    ratio = lambda key: 100.0 * counts[key] / n  # noqa: E731
    return {
        "n": n,
        "before": ratio("judge_before"),
        "after": ratio("judge_after"),
        "attacker_before": ratio("attacker_before"),
        "attacker_after": ratio("attacker_after"),
        "counts": counts,
    }


@dataclass
class AttackSettings:
    n: int = setting(500, help="latents attacked per generator", check=positive_int)
    steps: int = setting(DEFAULT_STEPS, help="PGD steps", check=non_negative_int)
    step_size: float = setting(DEFAULT_STEP_SIZE, help="PGD step", check=positive)
    radius: float = setting(DEFAULT_RADIUS, help="L∞ radius ε", check=non_negative)
    seed: int = setting(0, help="seeds the latents and noise", check=seed_value)

    def __post_init__(self):
        check_fields(self)

    def to_dict(self) -> dict:
        return record(self)


def attack_generators(
    generators: dict,
    attacker: ClassJudge,
    judge: Judge,
    settings: AttackSettings = AttackSettings(),
    *,
    progress: bool = False,
) -> dict:
    """{name: attack_feature_ratio(...)} for every generator, on the same latents and noise."""

    results = {}
    for name, G in generators.items():
        with tqdm(total=settings.n, desc=f"attack {name}", disable=not progress, unit="sample") as bar:
            results[name] = attack_feature_ratio(G, attacker, judge, **asdict(settings), progress=bar.update)
    return results
