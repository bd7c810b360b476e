"""The toy's settings, with the values tuned for it on seeds 0, 1 and 2 (each removes 100% of
both undesired modes and keeps every other mode at ≥ 11% of the samples, in ~15 s on one CPU
thread). Everything a run uses is here and is written to OUT/config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..util.validate import non_negative, positive, positive_int
from .training import GanSchedule

UNDESIRED_MODES = (0, 1)  # two neighbours: the angles 0° and 45°, i.e. the points (2, 0) and (√2, √2)


@dataclass
class MogConfig:
    seed: int = 0
    # the data
    std: float = 0.05
    undesired: tuple[int, ...] = UNDESIRED_MODES
    # the models
    z_dim: int = 4
    hidden: int = 64
    # pre-training: a small R1 keeps the 8 modes balanced (without it, seeds 1 and 2 left 2-5 modes under 2%)
    pretrain: GanSchedule = field(default_factory=lambda: GanSchedule(steps=2000, batch=256, lr=2e-3, r1=0.1))
    # feedback
    n_feedback: int = 2000
    # stage 1
    k: int = 2
    lam: float = 100.0  # λ of (λ/2) Σ F (θ − θ_G)²
    fisher_samples: int = 256
    adapt: GanSchedule = field(default_factory=lambda: GanSchedule(steps=300, batch=256, lr=1e-3))
    # stage 2: α·d ≈ 1.6 at the start (d ≈ 16 between θ_G and the θ_N here), so exp(−α d) starts on
    # its slope rather than flat at 0
    gamma: float = 1.0
    alpha: float = 0.1
    reduction: str = "sum"  # the paper's ||θ − θ_N||²: the toy's tensors are few and of one kind
    unlearn: GanSchedule = field(default_factory=lambda: GanSchedule(steps=400, batch=256, lr=1e-3))
    # the baseline
    extrapolation_s: float = 0.5
    # evaluation
    n_eval: int = 20_000
    radius: float = 0.25  # 5 std of the data; the modes are 1.53 apart, so the discs never overlap
    n_plot: int = 4000

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        positive("std", self.std)
        if (
            len(set(self.undesired)) != len(self.undesired)
            or not all(0 <= i < 8 for i in self.undesired)
            or not 0 < len(self.undesired) < 8
        ):
            raise ValueError(
                f"undesired modes must be distinct indices in 0..7 (at least one kept), got {self.undesired}"
            )
        for name in ("z_dim", "hidden", "n_feedback", "k", "fisher_samples", "n_eval", "n_plot"):
            positive_int(name, getattr(self, name))
        for name in ("pretrain", "adapt", "unlearn"):
            sched = getattr(self, name)
            positive_int(f"{name}.steps", sched.steps)
            positive_int(f"{name}.batch", sched.batch)
            positive(f"{name}.lr", sched.lr)
            non_negative(f"{name}.r1", sched.r1)
        non_negative("lam", self.lam)
        non_negative("gamma", self.gamma)
        positive("alpha", self.alpha)
        positive("radius", self.radius)
        if self.reduction not in ("sum", "mean", "tensor_mean"):
            raise ValueError(f"reduction must be sum, mean or tensor_mean; got {self.reduction!r}")

    @property
    def desired(self) -> tuple[int, ...]:
        return tuple(i for i in range(8) if i not in self.undesired)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["undesired"] = list(self.undesired)
        return out
