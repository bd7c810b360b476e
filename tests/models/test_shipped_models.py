"""The models that ship inside the package: they load, are what MODELS.md says, and behave so.

The classifier's accuracy is checked in test_classifiers.py; here the generators are judged by it:
the base model draws every digit, a model retrained without class c (the Ret-FID reference) almost
never draws c, and everything fits the 20 MB budget."""
from pathlib import Path

import pytest
import torch

from atu import assets, checkpoint
from atu.classifiers import load_classifier, predict

RETRAINED_CLASSES = (1, 4, 8)
N_SAMPLES = 500


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(assets.path(assets.DIGITS_CLASSIFIER))


def _share_per_class(generator_file: Path, classifier) -> torch.Tensor:
    G = checkpoint.load(generator_file).generator().eval()
    labels = predict(classifier, G.sample(N_SAMPLES, seed=123))
    return torch.bincount(labels, minlength=10).double() / N_SAMPLES


def test_everything_shipped_fits_the_budget():
    folder = assets.path(assets.DIGITS_CLASSIFIER).parent
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total <= 20 * 2**20, f"shipped files take {total / 2**20:.1f} MB"


def test_the_base_generator_is_the_documented_32px_digits_model_and_draws_every_digit(classifier):
    ck = checkpoint.load(assets.path(assets.DIGITS_GENERATOR))
    assert ck.metadata["run"]["data"] == "digits" and ck.metadata["run"]["exclude_classes"] == []
    assert ck.metadata["run"]["model"]["width"] == 48      # MODELS.md: 48 channels at every resolution
    assert {"g_ema", "d"} <= set(ck.sections)
    G, D = ck.generator(), ck.discriminator()
    assert G.size == 32 and G.style_dim == 128 and D(G.sample(2, seed=0)).shape == (2, 1)
    share = _share_per_class(assets.path(assets.DIGITS_GENERATOR), classifier)
    assert share.min() > 0.03, f"classes drawn (share of {N_SAMPLES}): {share.tolist()}"


@pytest.fixture(scope="module")
def base_run():
    return checkpoint.load(assets.path(assets.DIGITS_GENERATOR)).metadata["run"]


@pytest.mark.parametrize("c", RETRAINED_CLASSES)
def test_retrained_generators_rarely_draw_their_excluded_class(classifier, base_run, c):
    path = assets.retrained_digits_generator(c)
    assert path is not None, f"no retrained model for class {c} ships"
    run = checkpoint.load(path).metadata["run"]
    assert run["exclude_classes"] == [c]
    assert {k: run[k] for k in ("model", "train", "steps", "seed")} == \
        {k: base_run[k] for k in ("model", "train", "steps", "seed")}      # the base model's recipe
    share = _share_per_class(path, classifier)
    others = torch.cat([share[:c], share[c + 1:]])
    assert share[c] < 0.02 and others.min() > 0.03, f"class shares: {share.tolist()}"


def test_a_class_without_a_retrained_model_has_none():
    assert all(assets.retrained_digits_generator(c) is None for c in range(10) if c not in RETRAINED_CLASSES)
