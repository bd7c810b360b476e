"""`atu attack`: does the removed feature come back when someone searches the latent space for it?

  atu attack --gen pretrained.safetensors --model el2=runs/el2/model.safetensors \\
             --model latent=runs/latent/model.safetensors --classifier C.safetensors \\
             --judge C_seed1.safetensors --class 8 --out attack.json

For the pre-trained generator (--gen) and every --model: n seeded latents z are attacked by PGD
(atu/eval/attack.py: 50 signed-gradient steps of 0.02 on z within an L∞ ball of radius 0.1, the
settings of Moon, Cho, Kim, AAAI 2024) toward the class --class under --classifier; the feature
ratio (percent of samples in the class) before and after is judged by --judge, a second classifier
trained with another seed (`atu train-classifier ... --seed 1`), and also reported under the
attacker. Every generator sees the same latents and noise. Written to --out atomically:
{"class", "settings", "models": {"pretrained": {"before", "after", "attacker_before",
"attacker_after", "n", "counts"}, NAME: {...}}, "inputs", "provenance"}.
Exit status: 0 written; 2 bad input (named).
"""
from __future__ import annotations

from dataclasses import dataclass

from .eval.attack import DEFAULT_RADIUS, DEFAULT_STEP_SIZE, DEFAULT_STEPS, attack_feature_ratio
from .util.settings import check_fields, setting
from .util.settings import to_dict as record
from .util.validate import integer, non_negative, non_negative_int, positive, positive_int


@dataclass
class AttackSettings:
    n: int = setting(500, help="latents attacked per generator", check=positive_int)
    steps: int = setting(DEFAULT_STEPS, help="PGD steps", check=non_negative_int)
    step_size: float = setting(DEFAULT_STEP_SIZE, help="PGD step", check=positive)
    radius: float = setting(DEFAULT_RADIUS, help="L∞ radius ε", check=non_negative)
    seed: int = setting(0, help="seeds the latents and noise", check=integer)

    def __post_init__(self):
        check_fields(self)

    def to_dict(self) -> dict:
        return record(self)


def attack_generators(generators: dict, attacker, judge, target: int, settings: AttackSettings = AttackSettings(),
                      *, progress: bool = False) -> dict:
    """{name: attack_feature_ratio(...)} for every generator, on the same latents and noise."""
    from tqdm import tqdm

    results = {}
    for name, G in generators.items():
        with tqdm(total=settings.n, desc=f"attack {name}", disable=not progress, unit="sample") as bar:
            results[name] = attack_feature_ratio(G, attacker, judge, target, n=settings.n, seed=settings.seed,
                                                 steps=settings.steps, step_size=settings.step_size,
                                                 radius=settings.radius, progress=bar.update)
    return results
