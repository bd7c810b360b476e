"""`atu evaluate`: the paper's metrics for the pre-trained generator and any number of others.

- PUL (percent, atu.eval.pul) on a fixed latent bank (default 15,000 seeds), judged by the classifier,
  and next to it the target feature ratio (percent of the bank's samples the classifier puts in the
  undesired class: Moon, Cho, Kim's metric, comparable across generators without a reference);
- FID against the real data without the undesired samples, in the classifier's penultimate feature
  space by default (works offline), or with --inception FILE in an Inception-v3 TorchScript
  network's (the standard FID features; see atu/eval/extractors.py for the input convention);
  the Fréchet distance in float64;
- Ret-FID: FID against samples of a generator retrained without the feature; reported as missing
  (null), never estimated another way, when no retrained model is given;
- in the same feature space, KID (unbiased, mean ± std over 100 subsets; its scale is the feature
  space's, so compare it between models of one evaluation, or in Inception features) and precision / recall
  (k = 3, percent) of FID's generated samples against a seeded subset of n_fid real images
  (atu/eval/kid_pr.py).
Written to metrics.json (atomically) as {"class", "fid_features", "pretrained": {...},
"methods": {name: {...}}, ...}. Bad input (a missing or unreadable file, an unknown class, a file
that is not a feature network) exits with status 2 and a message naming the option; nothing is
written.

Under torchrun (several processes), the latent bank's and the real images' batches are shared out
over the ranks, the undesired counts and the feature sums (n, Σx, Σxxᵀ in float64) added up, and
rank 0 writes the same PUL and, up to rounding, the same FID as one process; the features KID and
precision/recall need are gathered in sample order, so they too equal one process's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..classifiers import predict
from ..classifiers.judges import ClassJudge, Judge
from ..util import distributed
from .extractors import FeatureExtractor, classifier_extractor
from .fid import FeatureMoments, frechet_distance
from .filtering import FilteredSampler
from .kid_pr import kid, precision_recall
from .pul import count_undesired_by, percentage_unlearned
from .reference_stats import reference_from_images

SAMPLE_BATCH = 64  # generator batches (the unit shared out over ranks)
PR_NEIGHBOURS = 3  # Kynkäänniemi et al.'s k for the precision/recall manifolds


def _shard() -> tuple[int, int]:
    return distributed.rank(), distributed.world_size()


def feature_ratio(n_undesired: int, n_bank: int) -> float:
    """The target feature ratio in percent: the share of the bank's samples that show the feature."""
    return 100.0 * n_undesired / n_bank


def generator_statistics(extractor: FeatureExtractor, G, n: int, seed: int, *, keep_rows: bool = False):
    """Feature mean and covariance of n seeded samples of G (this rank's batches, summed over ranks);
    with keep_rows, also every sample's features ([n, D], the same on every rank) for KID and P/R."""
    moments, parts = FeatureMoments(), []
    rank, world = _shard()
    batch = G.images_per_pass(at_most=SAMPLE_BATCH)  # fewer per pass at high resolution
    for b, (_, images, _) in enumerate(G.iter_samples(n, seed, batch_size=batch, shard=(rank, world))):
        features = extractor.features(images)
        moments.add(features)
        if keep_rows:
            parts.append(((b * world + rank) * batch, features))
    stats = moments.over_ranks().statistics()
    return (*stats, distributed.assemble_rows(parts, n)) if keep_rows else stats


def kid_and_precision_recall(real_rows: torch.Tensor | None, fake_rows: torch.Tensor, seed: int) -> dict:
    """KID (mean and std over 100 subsets of up to 1,000) and precision/recall (k = 3, in
    percent) of generated against real features; missing without real rows (a pytorch-fid
    statistics file holds only FID's moments)."""
    if real_rows is None:
        return {"kid": None, "kid_std": None, "precision": None, "recall": None}
    kid_mean, kid_std = kid(real_rows, fake_rows, subsets=100, subset_size=1000, seed=seed)
    out = {"kid": kid_mean, "kid_std": kid_std, "precision": None, "recall": None}
    if min(real_rows.shape[0], fake_rows.shape[0]) > PR_NEIGHBOURS:  # else no k-th neighbour: missing
        precision, recall = precision_recall(real_rows, fake_rows, k=PR_NEIGHBOURS)
        out.update(precision=100 * precision, recall=100 * recall)
    return out


SECOND = "_judge2"  # the suffix of the second judge's n_undesired, feature_ratio and pul


def _once_per_batch(fn):
    """fn(images), computed once for each batch of the bank however many counts ask for it."""
    last: dict = {}

    def cached(images: torch.Tensor) -> torch.Tensor:
        if last.get("images") is not images:
            last["images"], last["value"] = images, fn(images)
        return last["value"]

    return cached


def _class_judges(classifier: nn.Module, feature) -> dict:
    """{key: holds} for each class of `classifier` ("class c"), and for each class among the samples
    without the feature ("class c without"): the predictions made once per batch of the bank."""
    labels = _once_per_batch(lambda images: predict(classifier, images))

    def of(c: int, without: bool):
        if without:
            return lambda images: (labels(images) == c) & ~feature(images).to(labels(images).device)
        return lambda images: labels(images) == c

    return {
        f"class {c}{' without' if without else ''}": of(c, without)
        for without in (False, True)
        for c in range(classifier.num_classes)
    }


def evaluate(
    pretrained,
    methods: dict,
    judge: Judge,
    real_images: torch.Tensor | None,
    *,
    retrained=None,
    n_bank: int = 15_000,
    n_fid: int = 5_000,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
    reference=None,
    second_judge: Judge | None = None,
    class_shares: nn.Module | None = None,
    shared: dict | None = None,
) -> dict:
    """Metrics of `pretrained` and every generator in `methods` (name -> generator, or an
    eval.filtering.FilteredSampler, whose rejected share is reported too), the feature counted by
    `judge` (classifiers/judges.py). FID features come from `extractor` (default: the penultimate
    layer of a class judge's classifier; a measurement has none, so it needs one); the real side
    from `real_images`, or from `reference` (eval/reference_stats.py: statistics computed once).
    With a `second_judge`, every model's n_undesired, feature_ratio and PUL are also counted by it,
    as n_undesired_judge2, ... (same bank, one pass). With a `class_shares` classifier, every model's
    "class_shares" lists the percentage of its bank in each of the classifier's classes (what else an
    edit moved: the other digits, or the classes a feature's removal took with it), and
    "class_shares_without_feature" the same among its samples without the feature (for the
    pre-trained model: what an edit that removed the feature and nothing else would draw).

    `shared`: a dict that evaluations with the same judges, feature space, real data, retrained
    model, sizes and seed pass alike (e.g. one class removed with different counts of marks). The
    first fills it with the real data's statistics and the pre-trained and retrained models'
    measures; the others read them from it instead of measuring again (real_images may then be
    None), and get the same numbers."""
    if extractor is None:
        if not isinstance(judge, ClassJudge):
            raise ValueError(f"evaluate: the judge of {judge.name} has no feature space for FID: pass extractor=")
        extractor = classifier_extractor(judge.classifier)
    judges = {"": _once_per_batch(judge.holds)}
    if second_judge is not None:
        judges[SECOND] = second_judge.holds
    shares = _class_judges(class_shares, judges[""]) if class_shares is not None else {}
    shared = {} if shared is None else shared
    if "reference" not in shared:
        shared["reference"] = (
            reference
            if reference is not None
            else reference_from_images(extractor, real_images, n_fid=n_fid, seed=seed)
        )
        shared["retrained_stats"] = (
            generator_statistics(extractor, retrained, n_fid, seed + 1) if retrained is not None else None
        )
    reference, retrained_stats = shared["reference"], shared["retrained_stats"]
    real_stats, real_rows = (reference.mu, reference.sigma), reference.rows

    def undesired(G) -> dict:
        counts = count_undesired_by(G, {**judges, **shares}, n=n_bank, seed=seed, shard=_shard())
        out = {}
        for suffix, count in counts.items():
            if suffix not in shares:
                n = distributed.sum_counts(count)
                out.update({f"n_undesired{suffix}": n, f"feature_ratio{suffix}": feature_ratio(n, n_bank)})
        if shares:
            n_classes = len(shares) // 2
            per_class = [distributed.sum_counts(counts[key]) for key in shares]
            out["class_shares"] = [feature_ratio(n, n_bank) for n in per_class[:n_classes]]
            # among the samples without the feature: what an edit that removed only the feature draws
            left = sum(per_class[n_classes:])
            out["class_shares_without_feature"] = [
                feature_ratio(n, left) if left else None for n in per_class[n_classes:]
            ]
        if isinstance(G, FilteredSampler):  # every process labelled the whole stream: no sum
            out["rejected"] = 100.0 * (1 - G.last_draw["kept"] / G.last_draw["drawn"])
        return out

    def measure(G) -> dict:
        mu, sigma, rows = generator_statistics(extractor, G, n_fid, seed + 1, keep_rows=True)
        return {
            **undesired(G),
            "fid": frechet_distance(mu, sigma, *real_stats),
            "ret_fid": frechet_distance(mu, sigma, *retrained_stats) if retrained_stats is not None else None,
            **kid_and_precision_recall(real_rows, rows, seed),
        }

    if "pretrained" not in shared:
        shared["pretrained"] = measure(pretrained)
        shared["retrained"] = undesired(retrained) if retrained is not None else None
    base = copy.deepcopy(shared["pretrained"])

    def puls(counts: dict) -> dict:
        # undefined when the pre-trained model made no undesired sample: reported as missing, not 0
        return {
            f"pul{s}": percentage_unlearned(base[f"n_undesired{s}"], counts[f"n_undesired{s}"])
            if base[f"n_undesired{s}"]
            else None
            for s in judges
        }

    result = {
        **({"class": judge.undesired} if isinstance(judge, ClassJudge) else {}),
        "judge": judge.record(),
        "n_bank": n_bank,
        "n_fid": n_fid,
        "seed": seed,
        "fid_features": extractor.record,
        "pretrained": base,
        "methods": {},
    }
    if retrained is not None:
        # The reference a judge of unlearning needs: a generator that never saw the class still
        # makes samples the classifier reads as the class (its errors on generated images), so its
        # PUL is the highest that "removed the feature entirely" reaches under this classifier.
        counts = copy.deepcopy(shared["retrained"])
        result["retrained"] = {**counts, "fid": frechet_distance(*retrained_stats, *real_stats), **puls(counts)}
    for name, G in methods.items():
        m = measure(G)
        m.update(puls(m))
        result["methods"][name] = m
    return result
