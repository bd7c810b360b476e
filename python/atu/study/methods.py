"""What each method of a study is, in one table: the study configuration's checks and defaults, the
report's titles and column order, the recommendation and the Python API all read it from here.

Adapt-then-Unlearn's stage-2 methods train with `atu unlearn`: the repulsions (el2, il2, nl2;
el2_paper, EL2 with the paper's update: the repulsion added to the loss Adam minimises whatever
unlearn.decoupled says, so one study shows the paper's method beside the decoupled step; nl2_paper,
NL2 in that update at the top of the paper's γ range); adv_only,
the ablation without repulsion; and the redaction family (atu/stages/redaction.py): redact is
adversarial fine-tuning whose D also counts the marked negatives as fakes, redact_labeller relabels
G's fakes online with the feature's classifier, <kind>+redact adds that repulsion to redact
(el2_paper+redact: the paper's update of EL2). The
other families: latent feature unlearning (Moon, Cho, Kim, AAAI 2024), which works from the
feedback alone; and the output filter (eval/filtering.py: rejection sampling from the pre-trained
model with the feature's classifier), the reference every edit is up against, with nothing to train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The authors' repulsion weights in our terms at k = 2 (see stages/unlearn.py): their IL2 γ_a/v is il2
# with γ = 2γ_a/k², their NL2 −γ_a·v is nl2 with γ = γ_a·k²/2; γ_a = 1 as in their examples.
AUTHORS_IL2_GAMMA, AUTHORS_NL2_GAMMA = 0.5, 2.0
# nl2_paper's γ: γ_a = 10, the top of the paper's range (A.1.3: 0.1, 1, 10) and the one setting of IL2
# and NL2 that removed as much as the paper's EL2 update on MNIST classes 1, 4 and 8, at its FID and
# recall; γ_a = 0.1 and 1 removed 5–11 points less on seed 0 (docs/results.md, "Which repulsion").
PAPER_NL2_GAMMA = 10 * AUTHORS_NL2_GAMMA
# The redaction weight 0.1: of 0.03, 0.1 and 1 (negatives as fakes, digits model) the one that removed
# most at an FID within 1.5× of the pre-trained model's
# (bench/results/experiments/cpu-2core-epyc-stage2-limits.md). On MNIST the best weight differs by class
# (docs/results.md, "Real MNIST"), so it stays; a study sweeps it with redact@redact=W variants.
REDACT_WEIGHT = 0.1


@dataclass(frozen=True)
class Method:
    name: str
    family: str  # "stage2" (atu unlearn, needs the feedback; repelling ones need stage 1), "latent", "filter"
    title: str  # its name in tables
    column: int  # its place among the report's columns
    kind: str = "el2"  # stage 2's repulsion kind (the unrepelled methods are EL2 with γ = 0)
    fixed: dict[str, Any] = field(default_factory=dict)  # settings that define it (a study may not change them)
    # its own defaults, over the study's shared unlearn section (a study's per-method setting overrides them)
    defaults: dict[str, Any] = field(default_factory=dict)
    redacts: bool = False  # defined by its redaction term (weight > 0; REDACT_WEIGHT unless the study sets one)

    @property
    def trains_stage2(self) -> bool:
        return self.family == "stage2"

    @property
    def repels(self) -> bool:
        return self.trains_stage2 and self.fixed.get("gamma", None) != 0.0

    @property
    def is_edit(self) -> bool:
        """A model edit, which the study may recommend (the filter is a reference, never one)."""
        return self.family != "filter"


_NO_REPULSION = {"gamma": 0.0, "decoupled": False}  # nothing to decouple: the same run either way
_IL2, _NL2 = (
    {"kind": "il2", "defaults": {"gamma": AUTHORS_IL2_GAMMA}},
    {"kind": "nl2", "defaults": {"gamma": AUTHORS_NL2_GAMMA}},
)


def _redacting(name: str, title: str, column: int, **method) -> Method:
    return Method(name, "stage2", title, column, redacts=True, **method)


# In the order a study resolves them (config.json's unlearn section keeps it).
TABLE = (
    Method("el2", "stage2", "EL2", 2),
    Method("el2_paper", "stage2", "EL2 (paper's update)", 3, fixed={"decoupled": False}),
    Method("il2", "stage2", "IL2", 0, **_IL2),
    Method("nl2", "stage2", "NL2", 1, **_NL2),
    Method("nl2_paper", "stage2", "NL2 (paper's update)", 4, "nl2", {"decoupled": False}, {"gamma": PAPER_NL2_GAMMA}),
    Method("adv_only", "stage2", "Adv. only", 5, fixed=_NO_REPULSION),
    _redacting("redact", "Redact", 6, fixed={**_NO_REPULSION, "redact_source": "negatives"}),
    _redacting("redact_labeller", "Redact (labeller)", 7, fixed={**_NO_REPULSION, "redact_source": "labeller"}),
    _redacting("el2+redact", "EL2 + redact", 10),
    _redacting("il2+redact", "IL2 + redact", 8, **_IL2),
    _redacting("nl2+redact", "NL2 + redact", 9, **_NL2),
    _redacting("el2_paper+redact", "EL2 (paper's update) + redact", 11, fixed={"decoupled": False}),
    Method("latent", "latent", "Latent", 12),
    Method("filter", "filter", "Filter (reference)", 13),
)
BY_NAME = {m.name: m for m in TABLE}

METHODS = tuple(m.name for m in TABLE)
ATU_METHODS = tuple(m.name for m in TABLE if m.trains_stage2)
REDACT_METHODS = tuple(m.name for m in TABLE if m.redacts)
LATENT_METHOD = next(m.name for m in TABLE if m.family == "latent")
FILTER_METHOD = next(m.name for m in TABLE if m.family == "filter")
COLUMN_ORDER = tuple(m.name for m in sorted(TABLE, key=lambda m: m.column))
# The paper's EL2 is the coupled update: el2_paper stands for it where a study ran it (in the paper's
# claims, beside its Table 1 row, under the latent attack), else atu's decoupled el2.
PAPER_EL2_STAND_INS = ("el2_paper", "el2")


def paper_el2(names) -> str | None:
    """The method among `names` set beside the paper's EL2: el2_paper, else el2, else None."""
    return next((name for name in PAPER_EL2_STAND_INS if name in names), None)
