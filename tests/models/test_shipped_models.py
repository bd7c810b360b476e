"""The models that ship inside the package: they load, are what MODELS.md says, and behave so.

The classifiers' accuracy is checked in test_classifiers.py; here each set's generators are judged by
its own classifier: the base model draws every digit, a model retrained without class c (the Ret-FID
reference) almost never draws c, the oracle of thick strokes draws few, and everything fits the budget."""

from pathlib import Path

import pytest
import torch

from atu import assets, checkpoint
from atu.classifiers import load_classifier, predict

# The classes whose retrained generator ships, per set (MODELS.md lists them and how they were made).
RETRAINED_CLASSES = {"digits": (1, 4, 8), "mnist": (1, 4, 8)}
N_SAMPLES = 500
RECIPE_KEYS = ("model", "train", "steps", "seed")  # what a retrained model shares with its base
# The oracle of thick strokes draws them at most this share of the base model's rate (measured: 0.125
# on these 500 latents, 0.066 on 5,000 others; the base draws 3-5% thick, the oracle 0.3-0.4%).
ORACLE_BOUND = 0.4
# The package's models: two sets' generators, judges and class references, and one feature's judge and
# oracle (its g_ema alone: nothing trains from a reference).
BUDGET_MB = 22


@pytest.fixture(scope="module", params=sorted(RETRAINED_CLASSES))
def shipped(request):
    return assets.SHIPPED[request.param]


@pytest.fixture(scope="module")
def classifier(shipped):
    return load_classifier(assets.path(shipped.classifier))


def _share_per_class(generator_file: Path, classifier) -> torch.Tensor:
    G = checkpoint.load(generator_file).generator().eval()
    labels = predict(classifier, G.sample(N_SAMPLES, seed=123))
    return torch.bincount(labels, minlength=10).double() / N_SAMPLES


def test_everything_shipped_fits_the_budget():
    folder = assets.path(assets.SHIPPED["digits"].classifier).parent
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total <= BUDGET_MB * 2**20, f"shipped files take {total / 2**20:.1f} MB"


def test_every_set_ships_its_generator_and_both_judges(shipped):
    assert shipped.missing() == [] and shipped.second_judge() is not None


def test_the_base_generator_is_the_documented_32px_model_and_draws_every_digit(shipped, classifier):
    ck = checkpoint.load(assets.path(shipped.generator))
    assert ck.metadata["run"]["data"] == shipped.data and ck.metadata["run"]["exclude_classes"] == []
    assert ck.metadata["run"]["model"]["width"] == 48  # MODELS.md: 48 channels at every resolution
    assert ck.metadata["run"]["model"]["n_mlp"] == 8  # the paper's mapping network
    assert {"g_ema", "d"} <= set(ck.sections)
    G, D = ck.generator(), ck.discriminator()
    assert G.size == 32 and G.style_dim == 128 and D(G.sample(2, seed=0)).shape == (2, 1)
    share = _share_per_class(assets.path(shipped.generator), classifier)
    assert share.min() > 0.03, f"classes drawn (share of {N_SAMPLES}): {share.tolist()}"


def _retrained_cases():
    return [(data, c) for data, classes in sorted(RETRAINED_CLASSES.items()) for c in classes]


@pytest.mark.parametrize("data,c", _retrained_cases())
def test_retrained_generators_rarely_draw_their_excluded_class(data, c):
    shipped = assets.SHIPPED[data]
    path = shipped.retrained(c)
    assert path is not None, f"no retrained {data} model for class {c} ships"
    base_run = checkpoint.load(assets.path(shipped.generator)).metadata["run"]
    run = checkpoint.load(path).metadata["run"]
    assert run["data"] == shipped.data and run["exclude_classes"] == [c]
    assert {k: run[k] for k in RECIPE_KEYS} == {k: base_run[k] for k in RECIPE_KEYS}
    share = _share_per_class(path, load_classifier(assets.path(shipped.classifier)))
    others = torch.cat([share[:c], share[c + 1 :]])
    assert share[c] < 0.02 and others.min() > 0.03, f"class shares: {share.tolist()}"


def test_a_class_without_a_retrained_model_has_none(shipped):
    shipping = RETRAINED_CLASSES[shipped.data]
    assert all(shipped.retrained(c) is None for c in range(10) if c not in shipping)


def test_a_reference_ships_its_g_ema_alone_bit_for_bit(tmp_path):
    from atu.assets.reference import keep_g_ema
    from tiny_gans import save_pretrained, tiny_models

    G, D = tiny_models()
    source = save_pretrained(tmp_path / "model.safetensors", G, D)
    reference = checkpoint.load(keep_g_ema(source, tmp_path / "reference.safetensors"))
    assert reference.sections == ["g_ema"] and reference.metadata["shipped_sections"] == ["g_ema"]
    assert all(torch.equal(t, G.state_dict()[name]) for name, t in reference.state_dict("g_ema").items())
    assert reference.generator().size == G.size
    checkpoint.save(tmp_path / "d_only.safetensors", kind="stylegan2", config={}, state_dicts={"d": D.state_dict()})
    with pytest.raises(ValueError, match="no g_ema section"):
        keep_g_ema(tmp_path / "d_only.safetensors", tmp_path / "x.safetensors")


def test_the_generator_without_thick_strokes_draws_them_far_less_often_than_the_base():
    """mnist32_no_thickness_top10, the oracle of the thick-stroke feature: the base recipe on the
    training digits without the thickest 10% (the threshold the feature's judge records), judged by
    the measurement itself on the same latents as the base model."""
    from atu.classifiers.judges import MeasureJudge
    from atu.data.features import MeasuredFeature

    shipped = assets.SHIPPED["mnist"]
    oracle = shipped.without_feature("thickness:top10")
    assert oracle is not None, "no oracle of thickness:top10 ships"
    ck = checkpoint.load(oracle)
    base_run = checkpoint.load(assets.path(shipped.generator)).metadata["run"]
    assert ck.metadata["run"]["exclude_feature"] == "thickness:top10" and ck.sections == ["g_ema"]
    assert {k: ck.metadata["run"][k] for k in RECIPE_KEYS} == {k: base_run[k] for k in RECIPE_KEYS}
    threshold = load_classifier(shipped.feature_judge("thickness:top10")).metadata["feature"]["threshold"]
    assert ck.metadata["data"]["excluded_feature"]["threshold"] == threshold
    judge = MeasureJudge(MeasuredFeature.parse("thickness:top10"), threshold)
    base = checkpoint.load(assets.path(shipped.generator)).generator().eval()
    thick_base = float(judge.holds(base.sample(N_SAMPLES, seed=123)).double().mean())
    thick_oracle = float(judge.holds(ck.generator().eval().sample(N_SAMPLES, seed=123)).double().mean())
    assert thick_oracle < ORACLE_BOUND * thick_base, f"thick share: base {thick_base:.3f}, oracle {thick_oracle:.3f}"
