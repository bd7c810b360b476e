"""The feature's direction in W (Moon, Cho, Kim, AAAI 2024, "Feature Unlearning for Pre-trained GANs
and VAEs"): where the latents of samples WITH the feature lie compared with the others.

    z_e  = mean(w | feature present) − mean(w | absent)      the target vector
    u    = z_e / ||z_e||
    proj(w) = uᵀw                                             (= z_eᵀw / ||z_e||, the paper's proj)
    t    = (mean proj over present + mean proj over absent) / 2
    sim(w) = 1 if proj(w) ≥ t else 0
    ŵ    = w − (proj(w) − t)·u                                moved along u exactly onto the threshold

ŵ keeps every component of w orthogonal to u and only sets its projection to t, so ŵ is the latent
"just without the feature" as far as this linear direction can tell. (The paper writes the shift
with z_e; for a unit z_e the two agree, and only the unit vector lands ŵ on the threshold.)

How well one direction separates the two sets is the ROC-AUC of proj against the labels, computed
on the same latents the direction was fitted on (in-sample: an optimistic figure when few samples
carry the feature).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FeatureDirection:
    target: torch.Tensor  # z_e [style_dim], float32
    threshold: float  # t, on the scale of proj

    @property
    def unit(self) -> torch.Tensor:
        return self.target / self.target.norm()

    def to(self, device) -> FeatureDirection:
        return FeatureDirection(self.target.to(device), self.threshold)

    def project(self, w: torch.Tensor) -> torch.Tensor:
        """proj(w) = uᵀw for w [N, style_dim] -> [N]."""
        return w @ self.unit.to(w)

    def similar(self, w: torch.Tensor) -> torch.Tensor:
        """sim(w) as a float 0/1 mask [N] (a weight in the losses)."""
        return (self.project(w) >= self.threshold).to(w.dtype)

    def shift(self, w: torch.Tensor) -> torch.Tensor:
        """ŵ = w − (proj(w) − t)·u: w moved along u onto the threshold."""
        u = self.unit.to(w)
        return w - (self.project(w) - self.threshold).unsqueeze(-1) * u

    def roc_auc(self, w: torch.Tensor, present: torch.Tensor) -> float:
        """ROC-AUC of proj(w) as a score for `present` (ties counted as one half)."""
        from sklearn.metrics import roc_auc_score

        labels = present.bool().cpu().numpy()
        if labels.all() or not labels.any():
            raise ValueError("ROC-AUC needs latents of both kinds (with and without the feature)")
        return float(roc_auc_score(labels, self.project(w).double().cpu().numpy()))

    @classmethod
    def fit(cls, w: torch.Tensor, present: torch.Tensor) -> FeatureDirection:
        """The direction and threshold from latents w [N, style_dim] and labels [N] (True = the
        feature is present). Means are taken in float64 so the result does not depend on the order
        of the samples beyond the last bit of float32."""
        present = present.bool().to(w.device)
        if w.ndim != 2 or present.shape != (w.shape[0],):
            raise ValueError(f"expected latents [N, D] and labels [N], got {tuple(w.shape)} and {tuple(present.shape)}")
        n_present = int(present.sum())
        if n_present == 0 or n_present == w.shape[0]:
            raise ValueError(
                f"the feature direction needs latents with and without the feature; {n_present} of {w.shape[0]} have it"
            )
        w64 = w.double()
        mean_present, mean_absent = w64[present].mean(0), w64[~present].mean(0)
        target = mean_present - mean_absent
        norm = target.norm()
        if not float(norm) > 0:
            raise ValueError("the two sets of latents have the same mean: there is no direction to follow")
        unit = target / norm
        threshold = 0.5 * (float(mean_present @ unit) + float(mean_absent @ unit))
        return cls(target=target.float(), threshold=threshold)

    def summary(self, w: torch.Tensor, present: torch.Tensor) -> dict:
        """What a run records: sizes, ||z_e||, t, the ROC-AUC and how sim splits the fitted latents."""
        present = present.bool().to(w.device)
        sim = self.similar(w).bool()
        return {
            "n_present": int(present.sum()),
            "n_absent": int((~present).sum()),
            "target_norm": float(self.target.norm()),
            "threshold": self.threshold,
            "roc_auc": self.roc_auc(w, present),
            "sim_share_present": float(sim[present].float().mean()),
            "sim_share_absent": float(sim[~present].float().mean()),
        }
