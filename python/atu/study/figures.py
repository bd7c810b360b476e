"""The figures of a feature's report: sample grids of every model (the judge's finds framed), the
training curves of the runs, and for a measured feature the distribution of its measurement."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..classifiers.judges import Judge, MeasureJudge
from ..data.morphometrics import measure
from ..gan.run import LOG_FILE
from ..util.images import save_grid
from ..util.plots import line_chart
from .columns import column_title
from .config import StudyConfig
from .features import Feature
from .inputs import StudyInputs
from .layout import adapt_dir, seed_dir

N_GRID = 16


@torch.no_grad()
def _marked_samples(G, judge: Judge, seed: int) -> torch.Tensor:
    """N_GRID samples of G on fixed latents and noise, RGB, each sample in which the judge finds the
    feature framed in red."""
    images = G.sample(N_GRID, seed=seed).float().cpu()
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    flagged = judge.holds(images)
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1)
    for i in flagged.nonzero().flatten().tolist():
        for edge in (images[i, :, :2, :], images[i, :, -2:, :]):
            edge.copy_(red.unsqueeze(-1).expand_as(edge))
        for edge in (images[i, :, :, :2], images[i, :, :, -2:]):
            edge.copy_(red.unsqueeze(-1).expand_as(edge))
    return images


def write_grids(
    cfg: StudyConfig, feature: Feature, fdir: Path, inputs: StudyInputs, trained: dict, device: str
) -> list[tuple[str, str]]:
    """grids/<column>.png: the same latents under the pre-trained model (top two rows) and the
    column's model of the first seed (bottom two rows)."""
    judge = inputs.judges[feature.name].to(device)
    seed = cfg.evaluate.seed + 1
    before = _marked_samples(inputs.generator.to(device).eval(), judge, seed)
    written = []
    for name, per_seed in trained.items():
        after = _marked_samples(per_seed[cfg.seeds[0]], judge, seed)
        rel = f"grids/{name.replace(' ', '_').replace('=', '')}.png"
        save_grid(torch.cat([before, after]), fdir / rel, nrow=8, scale=2)
        written.append((name, rel))
    return written


def _read_log(folder: Path) -> list[dict]:
    path = folder / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _series(records: list[dict], key: str, label: str) -> dict:
    points = [(r["step"], r[key]) for r in records if key in r]
    return {label: ([p[0] for p in points], [p[1] for p in points])} if points else {}


def write_curves(cfg: StudyConfig, fdir: Path) -> list[tuple[str, str]]:
    """curves/*.png from the first seed's logs: losses and the penalty of every stage run."""
    sdir = seed_dir(fdir, cfg.seeds[0])
    runs = {f"adapt model_{j}": adapt_dir(sdir) / f"model_{j}" for j in range(cfg.adapt.k)}
    runs.update({method: sdir / method for method in cfg.methods})
    written = []
    for name, folder in runs.items():
        records = _read_log(folder)
        if not records:
            continue
        slug = name.replace(" ", "_")
        losses = {**_series(records, "g_loss", "g_loss"), **_series(records, "d_loss", "d_loss")}
        if losses:
            rel = f"curves/{slug}_losses.png"
            line_chart(losses, fdir / rel, title=f"{name}: losses")
            written.append((f"{name} losses", rel))
        objective = {
            **_series(records, "loss", "L"),
            **_series(records, "recon", "L_recon"),
            **_series(records, "unlearn", "L_unlearn"),
            **_series(records, "percep", "L_percep"),
        }
        if objective:
            rel = f"curves/{slug}_losses.png"
            line_chart(objective, fdir / rel, title=f"{name}: losses")
            written.append((f"{name} losses", rel))
        penalty = {
            **_series(records, "ewc", "EWC penalty"),
            **_series(records, "repulsion", "L_rep"),
            **_series(records, "d", "d (distance to θ_N)"),
            **_series(records, "redact", "redaction term E[softplus(D(x))]"),
        }
        if penalty:
            rel = f"curves/{slug}_penalty.png"
            line_chart(penalty, fdir / rel, title=f"{name}: penalty")
            written.append((f"{name} penalty", rel))
    return written


N_HISTOGRAM = 2000  # samples per model whose measurement the report's histogram shows
HISTOGRAM_BINS = 30


def write_feature_histogram(
    cfg: StudyConfig, feature: Feature, fdir: Path, inputs: StudyInputs, trained: dict, device: str
) -> str | None:
    """feature_histogram.png for a measured feature: the distribution of the measurement over
    N_HISTOGRAM samples of the pre-trained model, the oracle (if any) and each column's model of the
    first seed, with the feature's threshold; None for a class."""
    judge = inputs.judges[feature.name]
    if not isinstance(judge, MeasureJudge):
        return None
    oracle = inputs.retrained[feature.name]
    models = {
        "Pre-trained": inputs.generator,
        **({"Oracle (retrained)": oracle} if oracle is not None else {}),
        **{column_title(name): per_seed[cfg.seeds[0]] for name, per_seed in trained.items()},
    }
    seed = cfg.evaluate.seed + 2
    values = {
        name: measure(G.to(device).eval().sample(N_HISTOGRAM, seed=seed).cpu())[judge.feature.measure]
        for name, G in models.items()
    }
    everything = torch.cat(list(values.values()))
    lo, hi = (float(q) for q in torch.quantile(everything, torch.tensor([0.005, 0.995], dtype=torch.float64)))
    edges = torch.linspace(lo, hi, HISTOGRAM_BINS + 1, dtype=torch.float64)
    centres = ((edges[1:] + edges[:-1]) / 2).tolist()
    series = {
        name: (centres, (100 * torch.histc(v, HISTOGRAM_BINS, lo, hi) / len(v)).tolist()) for name, v in values.items()
    }
    top = max(max(ys) for _, ys in series.values())
    series[f"threshold {judge.threshold:.3g}"] = ([judge.threshold, judge.threshold], [0.0, top])
    measure_name = judge.feature.measure
    line_chart(
        series,
        fdir / "feature_histogram.png",
        title=f"{measure_name} of {N_HISTOGRAM} samples per model (% per bin; the outer 1% of all values off the axis)",
        x_label=measure_name,
    )
    return "feature_histogram.png"
