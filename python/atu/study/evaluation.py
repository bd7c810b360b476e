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
   "feedback": {...}, "inputs": {...}, "provenance": {...},
   "evaluation_key": what the evaluation read, digested (study/reuse.py)}
PUL and the feature ratio (share of the bank with the feature) in percent. std is the sample standard deviation
(n − 1) over seeds, null with one seed; a metric that is missing (Ret-FID without a retrained model, PUL when the
pre-trained model made no undesired sample) is null, never 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..checkpoint.feedback_bundle import load_bundle
from ..classifiers.judges import ClassJudge, Judge
from ..data import load_dataset
from ..eval.attack import attack_generators
from ..eval.evaluate import evaluate
from ..eval.extractors import classifier_extractor
from ..eval.filtering import FilteredSampler
from ..util.provenance import file_record, provenance
from .config import StudyConfig
from .features import Feature
from .inputs import StudyInputs, Trained
from .layout import FEEDBACK_FILE
from .methods import FILTER_METHOD, LATENT_METHOD, paper_el2
from .shares import moved_classes


def real_images(cfg: StudyConfig, feature: Feature, undesired_class: int | None, resolution: int) -> torch.Tensor:
    """The real data without the feature: what FID compares against."""
    if cfg.data.startswith("folder:"):
        data = load_dataset(
            cfg.data,
            resolution=resolution,
            exclude_attribute=feature.exclude_attribute,
            attributes_file=cfg.attributes_file,
        )
    elif feature.measure:
        data = load_dataset(cfg.data, resolution=resolution, exclude_feature=feature.measure)
    else:
        data = load_dataset(cfg.data, resolution=resolution, exclude_classes=[undesired_class])
    return data.images()


def pre_trained_side(feature: Feature) -> str:
    """What decides a feature's pre-trained, real-data and retrained measures: everything it names
    but its name and its count of marks (the study's data, sizes and seed are the same for all)."""
    return json.dumps({k: v for k, v in feature.to_dict().items() if k not in ("name", "negatives")}, sort_keys=True)


def evaluate_feature(
    cfg: StudyConfig, feature: Feature, fdir: Path, inputs: StudyInputs, trained: Trained, *, device: str = "cpu"
) -> dict:
    """metrics.json of a feature (the runner writes it): `trained` (study/inputs.load_trained) and the
    filter over the pre-trained model, judged by the feature's judge (and the second judge, if any);
    FID in the feature classifier's features unless the study names an Inception network. Features
    removing one thing with different counts of marks measure the pre-trained model, the real data
    and the retrained model once (inputs.measured, eval/evaluate.evaluate's `shared`)."""
    classifier = inputs.classifiers[feature.name].to(device)
    c = inputs.undesired_class(feature.name)
    judge, second = inputs.judges[feature.name].to(device), inputs.second_judges[feature.name]
    pretrained = inputs.generator.to(device).eval()
    retrained = inputs.retrained[feature.name]
    models = {f"{name}@{seed}": G for name, per_seed in trained.items() for seed, G in per_seed.items()}
    if FILTER_METHOD in cfg.methods:  # the same for every seed: evaluated once, listed as one seed
        models[FILTER_METHOD] = (
            FilteredSampler(pretrained, classifier, c, threshold=cfg.feedback.threshold)
            if c is not None
            else FilteredSampler.judged_by(pretrained, judge)
        )
    side = inputs.measured.setdefault(pre_trained_side(feature), {})
    raw = evaluate(
        pretrained,
        models,
        judge,
        real_images(cfg, feature, c, pretrained.size) if not side else None,
        retrained=retrained.to(device) if retrained is not None else None,
        n_bank=cfg.evaluate.n_bank,
        n_fid=cfg.evaluate.n_fid,
        seed=cfg.evaluate.seed,
        extractor=inputs.inception or classifier_extractor(classifier),
        second_judge=second.to(device) if second is not None else None,
        # digits: the share of each class too, what else an edit moved (folder data has one attribute)
        class_shares=classifier if not cfg.data.startswith("folder:") else None,
        shared=side,
    )
    per_method = {
        name: aggregate({seed: raw["methods"][f"{name}@{seed}"] for seed in per_seed})
        for name, per_seed in trained.items()
    }
    if FILTER_METHOD in cfg.methods:
        per_method[FILTER_METHOD] = aggregate({cfg.seeds[0]: raw["methods"][FILTER_METHOD]})
    for m in per_method.values():  # what else the edit moved (study/shares.py)
        if "class_shares" in m:
            m["moved_classes"] = moved_classes(m, raw["pretrained"], c, cfg.evaluate.n_bank)
    feedback = load_bundle(fdir / FEEDBACK_FILE)
    second_file = feature.judge or (cfg.evaluate.judge if c is not None else None)
    metrics = {
        "class": c,
        "label": feature.name,
        # a measured feature: its measure, threshold and the data the threshold was taken over
        **({"feature": judge.record()} if feature.measure else {}),
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
            # feedback.negatives: {n, within_first: the bank samples looked at, left_out}
            **({"negatives": feedback.metadata["negatives"]} if "negatives" in feedback.metadata else {}),
        },
        "inputs": {
            "generator": file_record(cfg.generator),
            "classifier": file_record(feature.classifier),
            "retrained": file_record(feature.retrained) if feature.retrained else None,
            "judge": file_record(second_file) if second_file else None,
            "data": cfg.data,
        },
        "provenance": provenance(),
    }
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
    if all("class_shares" in m for m in per_seed.values()):  # per class, over the seeds
        shares = [m["class_shares"] for _, m in sorted(per_seed.items())]
        columns = [mean_std(list(column)) for column in zip(*shares)]
        result["class_shares"] = [mean for mean, _ in columns]
        if len(shares) > 1:
            result["class_shares_std"] = [std for _, std in columns]
        for s, own in zip(seeds, shares):
            s["class_shares"] = own
    result["seeds"] = seeds
    return result


def attack_pair(feature: Feature, inputs: StudyInputs) -> tuple[ClassJudge, Judge] | None:
    """(who attacks, who judges) in the latent attack: for a class, the feature's classifier attacks
    and the study's attack judge, a classifier trained with another seed, judges; for a measured
    feature, its own classifier (the feature's second judge) attacks and the measurement judges.
    None where there is no classifier to attack with or none to judge."""
    if feature.measure is not None:
        attacker = inputs.second_judges[feature.name]
        return (attacker, inputs.judges[feature.name]) if isinstance(attacker, ClassJudge) else None
    if inputs.attack_judge is None:
        return None
    c = inputs.undesired_class(feature.name)
    return ClassJudge(inputs.classifiers[feature.name], c), ClassJudge(inputs.attack_judge, c)


def attack_feature(
    cfg: StudyConfig,
    feature: Feature,
    inputs: StudyInputs,
    trained: Trained,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """The latent attack (atu/eval/attack.py) on the pre-trained generator and on every seed's EL2
    (methods.paper_el2) and latent models (attack_pair: who attacks, who judges); the ratios per seed
    and their mean ± std (attack.json, which the runner writes)."""
    attacker, judge = attack_pair(feature, inputs)
    attacker, judge = attacker.to(device), judge.to(device)
    c = inputs.undesired_class(feature.name)
    # one model of each family next to the pre-trained one: Adapt-then-Unlearn's EL2 and latent unlearning
    files = {m: trained[m] for m in (paper_el2(trained), LATENT_METHOD) if m in trained}
    generators = {
        "pretrained": inputs.generator.to(device).eval(),
        **{f"{m}@{seed}": G for m, per_seed in files.items() for seed, G in per_seed.items()},
    }
    raw = attack_generators(generators, attacker, judge, cfg.attack.settings, progress=progress)
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
        "attacker": attacker.record(),
        "judge": judge.record(),
        "inputs": {
            "classifier": file_record(feature.judge if feature.measure else feature.classifier),
            "judge": file_record(cfg.attack.judge) if not feature.measure else None,
        },
        "provenance": provenance(),
    }
    return record
