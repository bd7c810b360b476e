"""A feature's evaluation: every trained model of every seed judged in one `atu.eval.evaluate.evaluate`
call (so the pre-trained model, the real data and the retrained model are evaluated once, on the
same latent bank for all), then gathered per method as mean ± std over the seeds.

metrics.json:
  {"class": c, "label": name, "n_bank", "n_fid", "seed",
   "fid_features": {"kind": "classifier"} or {"kind": "inception", "file", "sha256"},
   "pretrained": {"n_undesired", "fid", "ret_fid"},
   "retrained": {"n_undesired", "fid", "pul"} or null (the generator retrained without the feature),
   "methods": {"el2": {"pul", "pul_std", "fid", "fid_std", "ret_fid", "ret_fid_std", "n_undesired",
                        "feature_ratio", "feature_ratio_std",
                        "seeds": [{"seed", "pul", "fid", "ret_fid", "n_undesired", "feature_ratio"}, ...]}, ...},
   "feedback": {...}, "inputs": {...}, "provenance": {...}}
PUL and the feature ratio (share of the bank with the feature) in percent. std is the sample standard deviation
(n − 1) over seeds, null with one seed; a metric that is missing (Ret-FID without a retrained model, PUL when the
pre-trained model made no undesired sample) is null, never 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from ..util.atomic import write_text
from ..util.distributed import is_main
from ..util.provenance import file_record, provenance
from .config import Feature, StudyConfig
from .layout import ATTACK_FILE, FEEDBACK_FILE, METRICS_FILE, extrapolation_file, method_model_file, seed_dir
from .methods import FILTER_METHOD

ATTACKED_METHODS = ("el2", "latent")  # one of each family, next to the pre-trained model


def extrapolation_name(s: float) -> str:
    return f"extrapolation s={s:g}"


def model_files(cfg: StudyConfig, fdir: Path) -> dict[str, dict[int, Path]]:
    """{column name: {seed: model file}} for every method and extrapolation scale, in report order:
    extrapolation first, then the stage-2 methods (the layout of the paper's tables)."""
    files: dict[str, dict[int, Path]] = {}
    for s in cfg.extrapolation_scales:
        files[extrapolation_name(s)] = {seed: extrapolation_file(seed_dir(fdir, seed), s) for seed in cfg.seeds}
    for method in cfg.methods:
        if method != FILTER_METHOD:  # the filter has no model file (evaluate_feature builds it)
            files[method] = {seed: method_model_file(fdir, seed, method) for seed in cfg.seeds}
    return files


def resolved_class(feature: Feature, classifier) -> int:
    from ..classifiers.classes import resolve_class

    return resolve_class(classifier, feature.undesired)


def real_images(cfg: StudyConfig, feature: Feature, classifier, resolution: int) -> torch.Tensor:
    """The real data without the feature: what FID compares against."""
    from ..data import load_dataset

    if cfg.data.startswith("folder:"):
        data = load_dataset(
            cfg.data,
            resolution=resolution,
            exclude_attribute=feature.exclude_attribute,
            attributes_file=cfg.attributes_file,
        )
    else:
        data = load_dataset(cfg.data, resolution=resolution, exclude_classes=[resolved_class(feature, classifier)])
    return data.images()


def evaluate_feature(
    cfg: StudyConfig, feature: Feature, fdir: Path, *, device: str = "cpu", progress: bool = True
) -> dict:
    from ..checkpoint.feedback_bundle import load_bundle
    from ..classifiers import load_classifier
    from ..eval.evaluate import evaluate
    from ..eval.extractors import load_inception
    from ..eval.filtering import FilteredSampler

    classifier = load_classifier(feature.classifier).to(device)
    c = resolved_class(feature, classifier)
    pretrained = ckpt.load(cfg.generator).generator("g_ema", device=device).eval()
    retrained = ckpt.load(feature.retrained).generator(device=device).eval() if feature.retrained else None
    files = model_files(cfg, fdir)
    models = {
        f"{name}@{seed}": ckpt.load(path).generator("g_ema", device=device).eval()
        for name, per_seed in files.items()
        for seed, path in per_seed.items()
    }
    if FILTER_METHOD in cfg.methods:  # the same for every seed: evaluated once, listed as one seed
        models[FILTER_METHOD] = FilteredSampler(pretrained, classifier, c, threshold=cfg.feedback.threshold)
    judge = load_classifier(cfg.evaluate.judge).to(device) if cfg.evaluate.judge else None
    extractor = (
        load_inception(cfg.evaluate.inception, resolution=pretrained.size, device=device, option="evaluate.inception")
        if cfg.evaluate.inception
        else None
    )
    raw = evaluate(
        pretrained,
        models,
        classifier,
        c,
        real_images(cfg, feature, classifier, pretrained.size),
        retrained=retrained,
        n_bank=cfg.evaluate.n_bank,
        n_fid=cfg.evaluate.n_fid,
        seed=cfg.evaluate.seed,
        extractor=extractor,
        judge=judge,
        judge_class=resolved_class(feature, judge) if judge else None,
    )
    per_method = {
        name: aggregate({seed: raw["methods"][f"{name}@{seed}"] for seed in per_seed})
        for name, per_seed in files.items()
    }
    if FILTER_METHOD in cfg.methods:
        per_method[FILTER_METHOD] = aggregate({cfg.seeds[0]: raw["methods"][FILTER_METHOD]})
    feedback = load_bundle(fdir / FEEDBACK_FILE)
    metrics = {
        "class": c,
        "label": feature.name,
        "n_bank": cfg.evaluate.n_bank,
        "n_fid": cfg.evaluate.n_fid,
        "seed": cfg.evaluate.seed,
        "fid_features": raw["fid_features"],
        "pretrained": raw["pretrained"],
        "retrained": raw.get("retrained"),
        "methods": per_method,
        "feedback": {
            "n": len(feedback),
            "undesired": feedback.n_undesired,
            "rule": feedback.metadata.get("labeller", {}).get("rule", "predicted class"),
        },
        "inputs": {
            "generator": file_record(cfg.generator),
            "classifier": file_record(feature.classifier),
            "retrained": file_record(feature.retrained) if feature.retrained else None,
            "judge": file_record(cfg.evaluate.judge) if cfg.evaluate.judge else None,
            "data": cfg.data,
        },
        "provenance": provenance(),
    }
    if is_main():  # several processes (torchrun) share the evaluation; one writes
        write_text(fdir / METRICS_FILE, json.dumps(metrics, indent=2))
    return metrics


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample std (n − 1) of the values; (None, None) if any is missing (a mean over the
    seeds that have a value would silently describe fewer runs than the table says)."""
    if not values or any(v is None for v in values):
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


# Beside FID, in the same feature space: KID (unbiased, comparable across sample sizes) and
# precision / recall (quality and coverage), as atu evaluate computes them; the second judge's
# counts (present when the study names evaluate.judge); the filter's rejected share.
SECOND_METRICS = ("kid", "precision", "recall")
OPTIONAL_METRICS = (*SECOND_METRICS, "pul_judge2", "n_undesired_judge2", "feature_ratio_judge2", "rejected")


def aggregate(per_seed: dict[int, dict]) -> dict:
    """One method's metrics over its seeds: mean and std of pul, fid, ret_fid, n_undesired,
    feature_ratio, and those of OPTIONAL_METRICS the evaluation measured (absent from older runs)."""
    optional = [key for key in OPTIONAL_METRICS if any(key in m for m in per_seed.values())]
    seeds = [
        {
            "seed": seed,
            "pul": m.get("pul"),
            "fid": m["fid"],
            "ret_fid": m["ret_fid"],
            "n_undesired": m["n_undesired"],
            "feature_ratio": m.get("feature_ratio"),
            **{key: m.get(key) for key in optional},
        }
        for seed, m in sorted(per_seed.items())
    ]
    result: dict = {}
    for key in ("pul", "fid", "ret_fid", "n_undesired", "feature_ratio", *optional):
        result[key], result[f"{key}_std"] = mean_std([s[key] for s in seeds])
    result["seeds"] = seeds
    return result


def attack_feature(
    cfg: StudyConfig, feature: Feature, fdir: Path, *, device: str = "cpu", progress: bool = True
) -> dict:
    """The latent attack (atu/eval/attack.py) on the pre-trained generator and on every seed's el2 and
    latent models, the feature's classifier attacking and the configured judge judging; the ratios
    per seed and their mean ± std, written to attack.json."""
    from ..classifiers import load_classifier
    from ..eval.attack import attack_generators

    attacker = load_classifier(feature.classifier).to(device)
    judge = load_classifier(cfg.attack.judge).to(device)
    c = resolved_class(feature, attacker)
    generators = {"pretrained": ckpt.load(cfg.generator).generator("g_ema", device=device).eval()}
    files = {
        m: {seed: method_model_file(fdir, seed, m) for seed in cfg.seeds} for m in ATTACKED_METHODS if m in cfg.methods
    }
    generators.update(
        {
            f"{m}@{seed}": ckpt.load(path).generator("g_ema", device=device).eval()
            for m, per_seed in files.items()
            for seed, path in per_seed.items()
        }
    )
    raw = attack_generators(generators, attacker, judge, c, cfg.attack.settings, progress=progress)
    models = {"pretrained": raw["pretrained"]}
    for m, per_seed in files.items():
        seeds = [{"seed": seed, **raw[f"{m}@{seed}"]} for seed in per_seed]
        models[m] = {"seeds": seeds}
        for key in ("before", "after"):
            models[m][key], models[m][f"{key}_std"] = mean_std([s[key] for s in seeds])
    record = {
        "class": c,
        "settings": cfg.attack.settings.to_dict(),
        "models": models,
        "inputs": {"classifier": file_record(feature.classifier), "judge": file_record(cfg.attack.judge)},
        "provenance": provenance(),
    }
    if is_main():
        write_text(fdir / ATTACK_FILE, json.dumps(record, indent=2))
    return record
