"""atu's Python API: Adapt-then-Unlearn over modules and tensors, for scripts and notebooks
(docs/python.md). Nothing here writes a file unless asked (`save`); the command lines run the same
stages with run folders, resume and records around them.

    G, D = atu.load("550000.pt")
    bank = atu.mark(atu.sample(G, 5000), judge="mnist", undesired=8)
    adapted = atu.adapt(G, D, bank, steps=500)
    G2 = atu.unlearn(G, D, bank, adapted, method="el2", steps=1600)
    atu.evaluate({"el2": G2}, pretrained=G, judge="mnist", undesired=8)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import assets
from . import checkpoint as ckpt
from .checkpoint.feedback_bundle import FeedbackBundle
from .classifiers import load_classifier
from .classifiers.classes import resolve_class
from .classifiers.judges import ClassJudge, Judge, MeasureJudge
from .data import load_dataset
from .eval.evaluate import evaluate as evaluate_models
from .eval.extractors import classifier_extractor
from .eval.filtering import FilteredSampler
from .feedback import draw_bank, label_with_classifier, label_with_judge, label_with_marks
from .gan.steps import StepCallback
from .latent.run import LatentConfig, latent_unlearn_generator
from .stages.adapt import AdaptConfig, adapt_generators
from .stages.extrapolate import extrapolated_generator, mean_reference
from .stages.unlearn import unlearn_generator
from .study.methods import FILTER_METHOD, LATENT_METHOD
from .study.variants import method_config
from .util import settings
from .util.devices import resolve_device


def device_of(device: str | torch.device = "auto") -> torch.device:
    """ "auto": CUDA when this torch sees a GPU, else the CPU; anything else as torch names it."""
    return torch.device(resolve_device(str(device)))


def load(path: str | os.PathLike, *, device: str | torch.device = "auto") -> tuple[nn.Module, nn.Module | None]:
    """The generator (g_ema) and discriminator (None when the file has none) of a checkpoint in any
    format `--gen` takes: rosinality `.pt`, NVlabs `.pkl`, atu's `.safetensors`; or the name of a
    shipped set ("mnist", "digits") for its pre-trained models. Both in eval mode, on `device`."""
    checkpoint = ckpt.load(_shipped(path, "generator"))
    target = device_of(device)
    G = checkpoint.generator().to(target).eval()
    has_d = any(name in checkpoint.state_dicts for name in ("d", "D", "discriminator"))
    D = checkpoint.discriminator().to(target).eval() if has_d else None
    return G, D


def load_judge(judge: str | os.PathLike | nn.Module, *, device: str | torch.device = "auto") -> nn.Module:
    """A classifier: a module as it is, a classifier file, or a shipped set's name ("mnist")."""
    if isinstance(judge, nn.Module):
        return judge
    return load_classifier(_shipped(judge, "classifier")).to(device_of(device)).eval()


def feature_judge(feature: str, data: str = "mnist", *, resolution: int = 32) -> MeasureJudge:
    """The judge of a measured feature, MEASURE:topP or MEASURE:bottomP ("thickness:top10": the
    thickest 10% of strokes), its threshold taken over the real images of `data` (a data spec) at
    `resolution`, the generator's. It stands wherever a judge does: mark, filter, evaluate."""
    return MeasureJudge.over(feature, data, resolution)


def sample(G: nn.Module, n: int = 5000, seed: int = 0, *, truncation: float = 1.0, progress: bool = True):
    """n samples of G with their latents (the bank a user marks), none marked yet: the same samples
    `atu feedback` draws for the same seed."""
    return draw_bank(G, n, seed, truncation=truncation, progress=progress)


def mark(
    bank: FeedbackBundle,
    judge: str | os.PathLike | nn.Module | Judge | None = None,
    undesired: int | str | None = None,
    *,
    ids: list[int] | None = None,
    threshold: float | None = None,
) -> FeedbackBundle:
    """The bank with its undesired samples marked: by a judge (a classifier, its file or a shipped
    set's name) and the undesired class (a number or one of its label names), every sample it
    predicts as that class (with `threshold` P: every sample it gives that class a probability
    of at least P); or by a Judge (`feature_judge`: a measured feature); or by hand, `ids` being the
    indices of the undesired samples."""
    if (judge is None) == (ids is None):
        raise ValueError("mark: give a judge and its undesired class, or the ids of the undesired samples")
    if ids is not None:
        return label_with_marks(bank, ids)
    if isinstance(judge, Judge):
        return label_with_judge(bank, judge)
    if undesired is None:
        raise ValueError("mark: which class of the judge is undesired? (undesired=8, undesired='Eyeglasses')")
    classifier = load_judge(judge, device=bank.images.device if bank.images.is_cuda else "auto")
    return label_with_classifier(bank, classifier, undesired, threshold=threshold)


def adapt(
    G: nn.Module,
    D: nn.Module,
    bank: FeedbackBundle,
    *,
    seed: int = 0,
    progress: bool = True,
    callback: StepCallback | None = None,
    **overrides: Any,
) -> list[nn.Module]:
    """Stage 1: the k generators θ_N adapted to the bank's undesired samples (AdaptConfig's settings
    as keywords: steps, k, lam, ..., train={"batch_size": 8}). callback(step, logs) sees every step."""
    cfg = settings.from_mapping(AdaptConfig, overrides, "adapt", seed=seed)
    bank.require_both_kinds("mark")
    return adapt_generators(
        G, _needs(D, "adapt"), bank.negatives().to(_device(G)), cfg, progress=progress, callback=callback
    )


def unlearn(
    G: nn.Module,
    D: nn.Module,
    bank: FeedbackBundle,
    adapted: list[nn.Module] | None = None,
    *,
    method: str = "el2",
    seed: int = 0,
    labeller: str | os.PathLike | nn.Module | None = None,
    progress: bool = True,
    callback: StepCallback | None = None,
    **overrides: Any,
) -> nn.Module:
    """Stage 2: G trained on the bank's desired samples and repelled from the `adapted` generators,
    by any stage-2 method of `atu run` (el2, el2_paper, il2, nl2, nl2_paper, adv_only, redact, redact_labeller,
    el2+redact, ...; METHOD@KEY=VALUE too), its defaults as a study's, UnlearnConfig's settings as
    keywords on top. redact_labeller (and redact_source="labeller") relabels G's fakes with
    `labeller`, the judge that marked the bank. method="latent" is latent feature unlearning (Moon
    et al. 2024: no stage 1, `atu latent-unlearn`'s settings). Returns the unlearned generator; G and
    D stay as they were. (The output filter is no edit of G: `atu.filter`.)"""
    if method == LATENT_METHOD:
        latent = settings.from_mapping(LatentConfig, overrides, "latent", seed=seed)
        return latent_unlearn_generator(G, _needs(D, "unlearn"), bank, latent, progress=progress, callback=callback)
    if method == FILTER_METHOD:
        raise ValueError("unlearn: the output filter leaves G as it is; atu.filter(G, judge, undesired) draws from it")
    cfg = method_config(method, seed=seed, **overrides)
    bank.require_both_kinds("mark")
    device = _device(G)
    negatives = bank.negatives().to(device) if cfg.redact > 0 and cfg.redact_source == "negatives" else None
    marker = None
    if cfg.redact > 0 and cfg.redact_source == "labeller":
        record = bank.metadata.get("labeller") or {}
        if record.get("kind") == "measure":  # the measurement that marked the bank marks G's fakes
            marker = MeasureJudge.of_record(record)
        elif labeller is None or record.get("kind") != "classifier":
            raise ValueError(
                f"method {method!r} relabels G's fakes: mark the bank with a judge and pass it as labeller"
            )
        else:
            classifier = load_judge(labeller, device=device).to(device)
            marker = ClassJudge(
                classifier, resolve_class(classifier, record["undesired_class"]), threshold=record.get("threshold")
            )
    return unlearn_generator(
        G,
        _needs(D, "unlearn"),
        bank.positives().to(device),
        list(adapted or []),
        cfg,
        negatives=negatives,
        labeller=marker,
        progress=progress,
        callback=callback,
    )


def filter(
    G: nn.Module, judge, undesired: int | str | None = None, *, threshold: float | None = None
) -> FilteredSampler:
    """The output filter, the reference every edit is up against: G's samples without those the
    judge marks (its class `undesired`, or with `threshold` P a probability of at least P; a Judge
    such as `feature_judge`'s, what it finds). It can stand in `evaluate`'s models beside the edits
    (its rejected share is reported too)."""
    if isinstance(judge, Judge):
        return FilteredSampler.judged_by(G, judge)
    classifier = load_judge(judge, device=_device(G))
    return FilteredSampler(G, classifier, resolve_class(classifier, undesired), threshold=threshold)


def extrapolate(G: nn.Module, adapted: list[nn.Module], s: float = 1.0) -> nn.Module:
    """The training-free baseline θ_G + s·(θ_G − mean θ_N) as a new generator."""
    return extrapolated_generator(G, mean_reference([list(m.parameters()) for m in adapted]), s)


def evaluate(
    models: dict[str, nn.Module],
    *,
    pretrained: nn.Module,
    judge: str | os.PathLike | nn.Module | Judge,
    undesired: int | str | None = None,
    real: torch.Tensor | str | None = None,
    second_judge: str | os.PathLike | nn.Module | Judge | None = None,
    features: str | os.PathLike | nn.Module | None = None,
    n_bank: int = 15_000,
    n_fid: int = 5_000,
    seed: int = 0,
) -> dict:
    """PUL, FID, KID, precision/recall and the feature ratio of every model in `models` beside the
    pre-trained one, as `atu evaluate` measures them: the judge's features for FID (a measured
    feature's judge has none: `features=` names the classifier, e.g. "mnist"), the real side from
    `real` (images in [-1, 1] as given; or a data spec such as "mnist", or None for a shipped set's data
    when the judge or `features` is named by its set: those real images without the judge's class or
    feature). A second judge counts every PUL again."""
    device = _device(pretrained)
    first, second = (_as_judge(j, undesired, device) if j is not None else None for j in (judge, second_judge))
    named = judge if isinstance(judge, str) else features if isinstance(features, str) else None
    if real is None and named in assets.SHIPPED:
        real = assets.SHIPPED[named].data
    if isinstance(real, str):  # the data without the feature, as `atu evaluate` and a study compare against
        without = (
            {"exclude_classes": [first.undesired]}
            if isinstance(first, ClassJudge)
            else {"exclude_feature": first.feature.name}
            if isinstance(first, MeasureJudge)
            else {}  # a judge of another kind: the data as they are
        )
        real = load_dataset(real, resolution=pretrained.size, **without).images()
    if real is None:
        raise ValueError("evaluate: FID needs real images: pass real= (a tensor or a data spec such as 'mnist')")
    if features is None and not isinstance(first, ClassJudge):
        raise ValueError(f"evaluate: the judge of {first.name} has no features for FID: pass features= (e.g. 'mnist')")
    extractor = classifier_extractor(load_judge(features, device=device)) if features is not None else None
    return evaluate_models(
        pretrained, models, first, real, n_bank=n_bank, n_fid=n_fid, seed=seed, extractor=extractor, second_judge=second
    )


def _as_judge(judge, undesired: int | str | None, device) -> Judge:
    """A Judge as it is; a classifier (module, file or shipped set's name) with its undesired class."""
    if isinstance(judge, Judge):
        return judge
    if undesired is None:
        raise ValueError("evaluate: which class of the judge is undesired? (undesired=8, undesired='Eyeglasses')")
    return ClassJudge.of(load_judge(judge, device=device), undesired)


def save(G: nn.Module, path: str | os.PathLike, *, D: nn.Module | None = None) -> Path:
    """G (as g_ema) and D to `path`: atu's format for .safetensors, rosinality's layout for .pt
    (what their generate.py and train.py --ckpt read)."""
    path = Path(path)
    if path.suffix == ".pt":
        ckpt.save_rosinality(path, g_ema=G, d=D)
        return path
    if path.suffix != ".safetensors":
        raise ValueError(f"save: {path} must end in .safetensors (atu) or .pt (rosinality)")
    config = {"generator": G.config(), **({"discriminator": D.config()} if D is not None else {})}
    state_dicts = {"g_ema": G.state_dict(), **({"d": D.state_dict()} if D is not None else {})}
    ckpt.save(path, kind="stylegan2", config=config, state_dicts=state_dicts, metadata={"written_by": "atu.save"})
    return path


def _shipped(name: str | os.PathLike, which: str) -> Path:
    """A file as given, or the `which` file of a shipped set named by its data ("mnist")."""
    if isinstance(name, str) and name in assets.SHIPPED:
        return assets.path(getattr(assets.SHIPPED[name], which))
    return Path(name)


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _needs(D: nn.Module | None, stage: str) -> nn.Module:
    if D is None:
        raise ValueError(f"{stage}: needs the discriminator; this checkpoint has none")
    return D
