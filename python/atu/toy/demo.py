"""`atu demo --toy mog`: the whole method on a 2-D mixture of 8 Gaussians, in seconds on one CPU.

    pre-train θ_G (MLP GAN) → feedback (2,000 samples, modes 0 and 1 undesired) → stage 1 (k = 2,
    EWC) → stage 2 (EL2 repulsion, and the γ = 0 ablation) → extrapolation baseline → metrics on
    20,000 samples → metrics.json, scatter.png, report.md

OUT holds config.json (the resolved settings), metrics.json, scatter.png, report.md and
timings.json. A folder that already holds this toy run with the same settings is re-reported (a
finished run) or redone (an unfinished one, seconds of work); any other non-empty folder is refused.

Seeds: pre-training and stage 2 use `seed`, stage 1's models seed..seed+k-1 (as `atu adapt`), the
Fisher `seed`, the feedback samples seed + 1000 and the evaluation bank seed + 2000, so the bank
the metrics are taken on is never the one the user labelled.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from tqdm import tqdm

from atu_ext import ops_mode

from ..util.atomic import write_text
from ..util.devices import resolve_device
from ..util.provenance import provenance
from . import metrics as M
from .config import MogConfig
from .data import mode_centres
from .models import generate
from .plot import scatter_panels
from .report import write_report
from .stages import adapt, collect_feedback, extrapolate, pretrain, unlearn

KIND = "atu demo --toy mog"
CONFIG_FILE, METRICS_FILE, PLOT_FILE, REPORT_FILE, TIMINGS_FILE = (
    "config.json",
    "metrics.json",
    "scatter.png",
    "report.md",
    "timings.json",
)
FEEDBACK_SEED_OFFSET, EVAL_SEED_OFFSET = 1000, 2000
REMOVAL_TARGET = 0.99


def run_mog_demo(
    out, seed: int = 0, device: str = "cpu", progress: bool = True, config: MogConfig | None = None
) -> dict:
    """Runs the toy in `out` (or re-reports a finished run there); returns metrics.json's content
    plus "report" (report.md's path), "out" and "reused"."""
    cfg = replace(config, seed=seed) if config is not None else MogConfig(seed=seed)  # validates
    device = resolve_device(device)
    out = Path(out)

    record = {"kind": KIND, "config": cfg.to_dict(), "device": device, "ops": ops_mode.current()}
    finished = _check_folder(out, record)
    if finished is not None:
        report = write_report(out / REPORT_FILE, finished, record, _read_json(out / TIMINGS_FILE) or {}, PLOT_FILE)
        return {**finished, "report": str(report), "out": str(out), "reused": True}
    write_text(out / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
    (out / METRICS_FILE).unlink(missing_ok=True)  # an unfinished run's leftovers never pass as results

    total = cfg.pretrain.steps + cfg.k * cfg.adapt.steps + 2 * cfg.unlearn.steps
    with tqdm(total=total, desc="toy mog", disable=not progress, leave=False) as bar:
        generators, info, timings = _train_everything(cfg, device, bar)
    started = time.perf_counter()
    metrics, banks = _evaluate(cfg, generators, info)
    timings["evaluate"] = time.perf_counter() - started
    timings["total"] = sum(timings.values())

    metrics["provenance"] = provenance()

    centres = mode_centres()
    scatter_panels(
        {name: bank[: cfg.n_plot] for name, bank in banks.items()}, centres, cfg.undesired, cfg.radius, out / PLOT_FILE
    )
    write_text(out / TIMINGS_FILE, json.dumps({k: round(v, 3) for k, v in timings.items()}, indent=2) + "\n")
    report = write_report(out / REPORT_FILE, metrics, record, timings, PLOT_FILE)
    write_text(out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")  # last: marks the run finished
    return {**metrics, "report": str(report), "out": str(out), "reused": False}


def _train_everything(cfg: MogConfig, device: str, bar) -> tuple[dict, dict, dict]:
    centres = mode_centres()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name], clock = now - clock, now

    theta_g, d_pre = pretrain(
        centres, cfg.std, cfg.pretrain, cfg.seed, z_dim=cfg.z_dim, hidden=cfg.hidden, device=device, progress=bar
    )
    lap("pretrain")
    feedback = collect_feedback(theta_g, cfg.n_feedback, cfg.seed + FEEDBACK_SEED_OFFSET, centres, cfg.undesired)
    if feedback.positives.shape[0] == 0:
        raise ValueError("the feedback marked every sample undesired: nothing to train stage 2 on")
    adapted = adapt(
        theta_g,
        d_pre,
        feedback.negatives,
        cfg.adapt,
        k=cfg.k,
        lam=cfg.lam,
        fisher_samples=cfg.fisher_samples,
        seed=cfg.seed,
        progress=bar,
    )
    lap("stage 1")
    stage2 = partial(
        unlearn,
        theta_g,
        d_pre,
        feedback.positives,
        adapted,
        cfg.unlearn,
        alpha=cfg.alpha,
        reduction=cfg.reduction,
        seed=cfg.seed,
        progress=bar,
    )
    theta_p, el2 = stage2(gamma=cfg.gamma)
    lap("stage 2 el2")
    theta_adv, adv = stage2(gamma=0.0)  # the same fine-tuning without repulsion
    lap("stage 2 adv_only")
    generators = {
        "pretrained": theta_g,
        "el2": theta_p,
        "adv_only": theta_adv,
        f"extrapolation s={cfg.extrapolation_s:g}": extrapolate(theta_g, adapted, cfg.extrapolation_s),
    }
    generators.update({f"adapted {j + 1}": a for j, a in enumerate(adapted)})
    info = {
        "feedback": {
            "n": cfg.n_feedback,
            "negatives": int(feedback.negatives.shape[0]),
            "positives": int(feedback.positives.shape[0]),
        },
        "el2": el2,
        "adv_only": adv,
    }
    return generators, info, timings


def _evaluate(cfg: MogConfig, generators: dict, info: dict) -> tuple[dict, dict]:
    """metrics.json's content, and each generator's sample bank (for the plot)."""
    centres = mode_centres()
    eval_seed = cfg.seed + EVAL_SEED_OFFSET
    banks = {name: generate(G, cfg.n_eval, eval_seed) for name, G in generators.items()}
    shares = {name: M.mode_shares(bank, centres, cfg.radius) for name, bank in banks.items()}
    before = shares["pretrained"]
    compared = (
        "el2",
        "adv_only",
        f"extrapolation s={cfg.extrapolation_s:g}",
    )  # the adapted models only show stage 1 worked
    per_generator = {}
    for name, s in shares.items():
        entry = {"shares": [round(v, 6) for v in s], "quality": round(M.quality(s, cfg.desired), 6)}
        if name in compared:
            entry["removed"] = M.removal(before, s, cfg.undesired)
            entry["covered"] = M.coverage(before, s, cfg.desired)
        if name in ("el2", "adv_only"):
            entry["distance_to_adapted"] = {"start": info[name]["d_start"], "end": info[name]["d"]}
        per_generator[name] = entry
    pretrained_ok = all(v >= M.MIN_SHARE for v in before)
    el2 = per_generator["el2"]
    removed_ok = all(v is not None and v >= REMOVAL_TARGET for k, v in el2["removed"].items())
    metrics = {
        "kind": KIND,
        "seed": cfg.seed,
        "undesired_modes": list(cfg.undesired),
        "desired_modes": list(cfg.desired),
        "radius": cfg.radius,
        "n_samples": cfg.n_eval,
        "feedback": info["feedback"],
        "rules": {
            "removed_at_least": REMOVAL_TARGET,
            "covered_share_at_least": M.MIN_SHARE,
            "covered_kept_at_least": M.MIN_KEPT,
        },
        "pretrained_covers_all_modes": pretrained_ok,
        "removed": el2["removed"],
        "covered": el2["covered"],
        "quality": el2["quality"],
        "passed": bool(pretrained_ok and removed_ok and all(el2["covered"].values())),
        "generators": per_generator,
    }
    return metrics, {
        name: banks[name] for name in ("pretrained", "el2", "adv_only", f"extrapolation s={cfg.extrapolation_s:g}")
    }


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _check_folder(out: Path, record: dict) -> dict | None:
    """None to run in `out`; the stored metrics when it holds this very run, finished; otherwise
    FileExistsError (nothing of someone else's is ever overwritten)."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    if not any(out.iterdir()):
        return None
    stored = _read_json(out / CONFIG_FILE)
    if not isinstance(stored, dict) or stored.get("kind") != KIND:
        raise FileExistsError(f"--out {out} is not empty and holds no toy run; choose another folder or empty it")
    if stored != record:
        raise FileExistsError(
            f"--out {out} holds a toy run with other settings (seed {stored.get('config', {}).get('seed')}, "
            f"device {stored.get('device')}); choose another folder to run seed {record['config']['seed']} "
            f"on {record['device']}"
        )
    metrics = _read_json(out / METRICS_FILE)
    return metrics if isinstance(metrics, dict) and metrics.get("kind") == KIND else None
