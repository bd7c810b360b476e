"""A study of a measured feature (`features: [{measure: MEASURE:topP}]`): the measurement marks the
feedback and counts PUL, the feature's own classifier counts it again, FID compares against the real
digits without the feature, and every method that needs no classifier of the feature runs."""

from __future__ import annotations

import json

import pytest

from atu import checkpoint as ckpt
from atu.checkpoint.feedback_bundle import load_bundle
from atu.classifiers import load_classifier
from atu.classifiers.judges import ClassJudge, MeasureJudge
from atu.data.features import MeasuredFeature, feature_label_names
from atu.study import ConfigError, from_dict, run_study
from atu.study.shares import moved_classes
from tiny_classifiers import saved_random_lenet
from tiny_gans import saved_study_models, tiny_study

N_BANK, N_FID = 60, 40
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny 16-px generator, a digit classifier (FID's features), a two-class judge of the feature, and
    a measured feature that some but not all of the generator's samples hold."""
    root = tmp_path_factory.mktemp("feature_study")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATU_CACHE", str(cache))
        G, _, _ = saved_study_models(root)
        saved_random_lenet(root / "digits.safetensors", 1, num_classes=10)
        bank = G.eval().sample(40, seed=0)
        for spec in ("area:top50", "area:bottom50", "thickness:top50", "thickness:bottom50"):
            judge = MeasureJudge.over(spec, "digits", resolution=16)
            if 0 < int(judge.holds(bank).sum()) < 40:
                break
        else:
            raise AssertionError("no measured feature splits the tiny generator's samples")
        metadata = {"label_names": feature_label_names(judge.feature)}
        saved_random_lenet(root / "judge.safetensors", 2, num_classes=2, metadata=metadata)
    return {"root": root, "cache": cache, "spec": judge.feature.name, "threshold": judge.threshold}


def _raw(files, **changes):
    return (
        tiny_study(
            files["root"] / "g.safetensors",
            files["root"] / "digits.safetensors",
            [{"name": "f", "measure": files["spec"], "judge": str(files["root"] / "judge.safetensors")}],
            n_bank=N_BANK,
            n_fid=N_FID,
            latent={"steps": 2, "batch_size": 4},
            # every method (redact_labeller: the measurement marks G's fakes as it marked the bank)
            methods=[
                *("el2", "el2_paper", "il2", "nl2", "adv_only", "redact", "redact_labeller", "el2+redact"),
                *("latent", "filter"),
            ],
            # on: the feature's classifier attacks and the measurement judges (the digit file is not used)
            attack={"judge": str(files["root"] / "digits.safetensors"), "n": 6, "steps": 2},
        )
        | changes
    )


def test_a_measured_feature_is_marked_counted_and_reported_by_its_judges(files, tmp_path, monkeypatch):
    monkeypatch.setenv("ATU_CACHE", str(files["cache"]))
    out = tmp_path / "study"
    cfg = from_dict(_raw(files))
    run_study(cfg, out, progress=False, log=lambda msg: None)
    # the folder's config.json runs the same study again
    assert from_dict(json.loads((out / "config.json").read_text())["config"]).to_dict() == cfg.to_dict()
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    assert metrics["class"] is None
    assert metrics["feature"]["feature"] == files["spec"]
    assert metrics["feature"]["threshold"] == pytest.approx(files["threshold"], abs=1e-12)
    # the counts are the measurement's and the feature classifier's on the evaluation's bank
    images = ckpt.load(files["root"] / "g.safetensors").generator("g_ema").eval().sample(N_BANK, seed=3)
    measured = MeasureJudge(MeasuredFeature.parse(files["spec"]), files["threshold"])
    second = ClassJudge.of(load_classifier(files["root"] / "judge.safetensors"), files["spec"])
    assert metrics["pretrained"]["n_undesired"] == int(measured.holds(images).sum())
    assert metrics["pretrained"]["n_undesired_judge2"] == int(second.holds(images).sum())
    assert set(metrics["methods"]) == {"extrapolation s=1", *_raw(files)["methods"]}
    assert metrics["inputs"]["judge"]["path"].endswith("judge.safetensors")
    labeller = load_bundle(out / "f" / "feedback.safetensors").metadata["labeller"]
    assert labeller["kind"] == "measure" and labeller["feature"] == files["spec"]
    report = (out / "f" / "report.md").read_text()
    assert f"# Unlearning f ({files['spec']}, judged by its measurement" in report
    # what else moved: each digit class's share of every model's bank, and the measurement's distribution
    assert sum(metrics["pretrained"]["class_shares"]) == pytest.approx(100) and "## Class shares" in report
    for name, m in metrics["methods"].items():  # flagged against the pre-trained shares (no class removed)
        assert m["moved_classes"] == moved_classes(m, metrics["pretrained"], None, metrics["n_bank"]), name
    assert (out / "f" / "feature_histogram.png").is_file() and "(feature_histogram.png)" in report
    # redact_labeller: the measurement marked G's fakes during training, as it marked the bank
    logged = [json.loads(line) for line in (out / "f" / "seed_0" / "redact_labeller" / "log.jsonl").open()]
    assert all("marked" in record for record in logged if "d_loss" in record)
    # the latent attack (on the paper's EL2 update, which ran beside el2): the feature's classifier
    # attacks, the measurement judges
    attack = json.loads((out / "f" / "attack.json").read_text())
    assert set(attack["models"]) == {"pretrained", "el2_paper", "latent"}
    assert attack["judge"]["kind"] == "measure" and attack["attacker"]["label"] == files["spec"]
    unattacked = ckpt.load(files["root"] / "g.safetensors").generator("g_ema").eval().sample(6, seed=0)
    assert attack["models"]["pretrained"]["before"] == pytest.approx(100 * measured.holds(unattacked).float().mean())
    assert f"judged by the measurement ({files['spec']}" in report.split("## Latent attack")[1]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"features": [{"measure": "thickness:top10", "undesired": 8}]}, r"either undesired \(a class\) or measure"),
        ({"features": [{"measure": "thick:top10"}]}, r"features\[0\]\.measure: unknown measure 'thick'"),
        ({"features": [{"measure": "thickness:top70"}]}, r"features\[0\]\.measure: .*\(0, 50\], got 70"),
    ],
)
def test_a_measured_feature_study_refuses_what_it_cannot_run(files, change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        from_dict(_raw(files, **change))


def test_a_measured_feature_is_named_after_its_measure_by_default(files):
    cfg = from_dict(_raw(files, features=[{"measure": "thickness:top10"}]))
    assert cfg.features[0].name == "no_thickness_top10" and cfg.features[0].undesired is None
    assert cfg.to_dict()["features"][0]["measure"] == "thickness:top10"
    assert "judge" not in cfg.to_dict()["features"][0]


def test_moon_et_al_s_rows_stand_beside_ours_as_ratios():
    from atu.study import moon

    metrics = {
        "feature": {"feature": "thickness:top10", "threshold": 4.09},
        "fid_features": {"kind": "classifier"},
        "pretrained": {"feature_ratio": 10.0, "fid": 20.0},
        "retrained": {"feature_ratio": 1.5, "fid": 22.0},
        "methods": {"el2": {"feature_ratio": 2.0, "fid": 25.0}, "latent": {"feature_ratio": 3.0, "fid": 30.0}},
    }
    assert moon.comparable("mnist", metrics) and not moon.comparable("digits", metrics)
    assert not moon.comparable("mnist", {**metrics, "feature": {"feature": "area:top10"}})
    table = moon.comparison_table(metrics)
    # theirs: DCGAN 9.10 -> 1.35 (oracle 1.28), FID 2.32 -> 3.35 (3.40): 1.44x and 1.47x
    assert "| Moon et al., latent method on their DCGAN | 9.10 → 1.35 | 1.28 | 1.44× | 1.47× |" in table
    assert "| Moon et al., latent method on their VAE | 9.47 → 0.97 | 1.01 | 1.02× | 1.03× |" in table
    assert "| atu: EL2 | 10.00 → 2.00 | 1.50 | 1.25× | 1.10× |" in table
    assert "| atu: Latent | 10.00 → 3.00 | 1.50 | 1.50× | 1.10× |" in table
