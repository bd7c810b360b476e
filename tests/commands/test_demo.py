"""`atu demo` on a reduced budget: the demo's own configuration on the shipped models and bundled
digits, with a few steps and small banks (the full demo is the README's main command, not a test)."""

import dataclasses
import json

import pytest

from atu import assets
from atu.cli import main as atu_main
from atu.study import from_dict, run_study
from atu.study.demo import demo_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_demo_configuration_runs_end_to_end_on_the_shipped_models(tmp_path):
    raw = demo_config(8, ["el2", "adv_only", "latent"], [0], steps_scale=0.01, device="cpu", data="digits")
    raw["feedback"]["n"] = 400
    raw["evaluate"] = {"n_bank": 400, "n_fid": 200, "seed": 0}
    raw["extrapolation"] = {"scales": [1.0]}
    assert raw["attack"]["judge"] == str(assets.path(assets.SHIPPED["digits"].second_classifier))  # the shipped judge
    raw["attack"].update(n=20, steps=3)
    report = run_study(from_dict(raw), tmp_path / "demo", progress=False, log=lambda m: None)
    metrics = json.loads((tmp_path / "demo" / "no8" / "metrics.json").read_text())
    assert metrics["class"] == 8 and set(metrics["methods"]) == {"el2", "adv_only", "latent", "extrapolation s=1"}
    text = report.read_text()
    assert "| | Pre-trained | Extrapolation s=1 | EL2 | Adv. only | Latent | Retrained (reference) |" in text
    assert "Latent attack" in text
    pre = metrics["pretrained"]
    # the shipped generator makes 8s (so PUL is defined) and has a retrained-without-8 reference
    assert pre["n_undesired"] > 0 and pre["ret_fid"] is not None
    assert all(m["pul"] is not None and m["ret_fid"] is not None for m in metrics["methods"].values())
    assert "EL2 PUL ≥ 95%" in report.read_text()


@pytest.mark.parametrize("data", sorted(assets.SHIPPED))
def test_the_demo_uses_the_retrained_model_only_when_one_ships(data):
    shipped = demo_config(8, ["el2"], [0], data=data)["features"][0]["retrained"]
    assert shipped == str(assets.SHIPPED[data].retrained(8)) and shipped.endswith(f"{data}32_no8.safetensors")
    assert demo_config(3, ["el2"], [0], data=data)["features"][0]["retrained"] is None  # no *_no3 ships


def test_the_demo_attacks_only_when_both_families_are_compared():
    assert demo_config(8, ["el2"], [0])["attack"]["judge"] is None
    assert demo_config(8, ["latent"], [0])["attack"]["judge"] == str(assets.SHIPPED["mnist"].second_judge())
    assert demo_config(8, ["latent"], [0], data="digits")["attack"]["judge"] == str(
        assets.path(assets.SHIPPED["digits"].second_classifier)
    )


def test_demo_arguments_are_checked_before_any_work(tmp_path, capsys):
    assert atu_main(["demo", "--steps-scale", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--steps-scale must be > 0" in capsys.readouterr().err
    assert atu_main(["demo", "--seeds", "0", "0", "--out", str(tmp_path / "b")]) == 2
    assert "seeds" in capsys.readouterr().err
    for classes in (["8", "8"], ["10"], ["-1", "4"]):
        assert atu_main(["demo", "--class", *classes, "--out", str(tmp_path / "c")]) == 2
        assert "classes 0..9, each given at most once" in capsys.readouterr().err
    for processes in ("0", "two", "1.5"):
        assert atu_main(["demo", "--processes", processes, "--out", str(tmp_path / "d")]) == 2
        assert f"--processes {processes}: expected a whole number >= 1 or auto" in capsys.readouterr().err
    assert atu_main(["demo", "--toy", "mog", "--negatives", "5", "--out", str(tmp_path / "e")]) == 2
    assert "--negatives" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        atu_main(["demo", "--negatives", "0", "--out", str(tmp_path / "f")])
    assert "--negatives: must be an integer from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        atu_main(["demo", "--negatives", "ten", "--out", str(tmp_path / "g")])
    assert "--negatives: expected a count or all, got 'ten'" in capsys.readouterr().err
    assert atu_main(["demo", "--negatives", "25", "all", "25", "--out", str(tmp_path / "h")]) == 2
    assert "--negatives 25 all 25: a count given twice" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abcdefgh")
    assert demo_config(8, ["el2"], [0], negatives=25)["feedback"] == {"n": 5000, "seed": 0, "negatives": 25}
    assert demo_config(8, ["el2"], [0], negatives=[25])["feedback"]["negatives"] == 25


def test_several_counts_of_marks_are_one_feature_each():
    cfg = from_dict(demo_config([1, 8], ["el2"], [0], negatives=[10, None]))
    assert [(f.name, f.undesired, f.negatives) for f in cfg.features] == [
        ("no1_n10", 1, 10),
        ("no1_all", 1, None),
        ("no8_n10", 8, 10),
        ("no8_all", 8, None),
    ]
    assert cfg.feedback.negatives is None  # the whole bank's marks for the `all` features
    thick = from_dict(demo_config(8, ["el2"], [0], feature="thickness:top10", negatives=[10, 50])).features
    assert [(f.name, f.measure, f.negatives) for f in thick] == [
        ("no_thickness_top10_n10", "thickness:top10", 10),
        ("no_thickness_top10_n50", "thickness:top10", 50),
    ]
    with pytest.raises(ValueError, match="a count given twice"):
        demo_config(8, ["el2"], [0], negatives=[10, 10])


def test_several_classes_are_one_feature_each_with_its_own_reference():
    features = from_dict(demo_config([1, 4, 8], ["el2"], [0], data="digits")).features
    assert [(f.name, f.undesired) for f in features] == [("no1", 1), ("no4", 4), ("no8", 8)]
    assert [f.retrained for f in features] == [assets.SHIPPED["digits"].retrained(c) for c in (1, 4, 8)]
    assert all(f.retrained is not None for f in features)  # digits32_no{1,4,8} ship
    assert demo_config(8, ["el2"], [0]) == demo_config([8], ["el2"], [0])


def test_the_demo_runs_on_mnist_by_default_and_says_what_a_missing_set_lacks(monkeypatch, tmp_path, capsys):
    mnist = demo_config(8, ["el2", "latent"], [0])
    assert mnist == demo_config(8, ["el2", "latent"], [0], data="mnist")
    assert mnist["data"] == "mnist" and mnist["generator"].endswith("mnist32.safetensors")
    assert mnist["classifier"].endswith("mnist_classifier.safetensors")
    assert mnist["attack"]["judge"].endswith("mnist_classifier_seed1.safetensors")
    lacking = assets.ShippedSet(
        "mnist", "nothing_here.safetensors", "mnist_classifier.safetensors", "mnist_classifier_seed1.safetensors"
    )
    monkeypatch.setitem(assets.SHIPPED, "mnist", lacking)
    assert atu_main(["demo", "--data", "mnist", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "lacks nothing_here.safetensors" in err and "build_shipped_models.sh mnist" in err
    assert not (tmp_path / "m").exists()


def test_the_repulsion_strength_is_set_per_shipped_set_for_el2_and_il2_alike_and_nl2_keeps_its_own():
    """γ of el2 and il2 scale together, so their initial pushes stay equal on either set; nl2, whose push
    grows with the distance it makes, keeps one γ; each <kind>+redact repels as <kind> does."""
    from atu.study.demo import DEMO_REPULSION_SCALE

    assert set(DEMO_REPULSION_SCALE) == set(assets.SHIPPED)
    methods = ["el2", "il2", "nl2", "adv_only", "el2+redact", "il2+redact", "nl2+redact"]
    per_set = {data: from_dict(demo_config(8, methods, [0], data=data)).unlearn for data in assets.SHIPPED}
    ratio = DEMO_REPULSION_SCALE["mnist"] / DEMO_REPULSION_SCALE["digits"]
    for method in ("el2", "il2"):
        assert per_set["mnist"][method].gamma == pytest.approx(ratio * per_set["digits"][method].gamma)
    assert per_set["mnist"]["nl2"].gamma == per_set["digits"]["nl2"].gamma
    for data, unlearn in per_set.items():
        for kind in ("el2", "il2", "nl2"):
            assert unlearn[f"{kind}+redact"].gamma == unlearn[kind].gamma, (data, kind)
    assert per_set["mnist"]["adv_only"].gamma == per_set["digits"]["adv_only"].gamma == 0
    assert per_set["mnist"]["el2"].alpha == per_set["digits"]["el2"].alpha  # only γ differs


@pytest.mark.parametrize("data", sorted(assets.SHIPPED))
def test_the_papers_update_runs_as_atu_unlearn_does_by_default_beside_the_decoupled_step(data):
    """el2_paper: coupled, the authors' per-tensor-mean distance, α and γ (UnlearnConfig's defaults,
    whatever the set's scale does to the decoupled γ), on the demo's schedule."""
    from atu.stages.unlearn import UnlearnConfig

    unlearn = from_dict(demo_config(8, ["el2", "el2_paper", "el2_paper+redact"], [0], data=data)).unlearn
    paper, ours, default = unlearn["el2_paper"], unlearn["el2"], UnlearnConfig()
    assert paper.decoupled is False and ours.decoupled is True
    assert (paper.kind, paper.reduction, paper.alpha, paper.gamma) == (
        "el2",
        "tensor_mean",
        default.alpha,
        default.gamma,
    )
    assert ours.reduction == "sum" and ours.gamma != default.gamma
    assert paper.steps == ours.steps and paper.train == ours.train
    with_redaction = unlearn["el2_paper+redact"]  # the same update, and the redaction term
    assert dataclasses.replace(with_redaction, redact=0.0) == paper and with_redaction.redact > 0


@pytest.mark.parametrize("data", sorted(assets.SHIPPED))
def test_the_demo_runs_by_default_the_update_atu_unlearn_runs_by_default(data):
    """`atu demo` without --methods trains one stage-2 model, with the repulsion a user of `atu unlearn`
    gets without options (kind, distance, α, γ, coupled): the demo shows what the quickstart does."""
    from atu.cli import build_parser
    from atu.stages.unlearn import UnlearnConfig

    args = build_parser().parse_args(["demo", "--data", data])
    cfg = from_dict(demo_config(8, args.methods, args.seeds, data=data))
    assert cfg.methods == args.methods and len(args.methods) == 1
    ours, default = cfg.unlearn[args.methods[0]], UnlearnConfig()
    fields = ("kind", "reduction", "alpha", "gamma", "decoupled", "redact")
    assert [getattr(ours, f) for f in fields] == [getattr(default, f) for f in fields]


@pytest.mark.parametrize("data", sorted(assets.SHIPPED))
def test_the_papers_nl2_runs_coupled_on_the_authors_distance_at_its_own_gamma(data):
    """nl2_paper in the demo: the setting the losses study measured (coupled, per-tensor-mean distance,
    γ = 20), the same on every set (the per-set scale is for the decoupled step's γ), on the demo's schedule."""
    unlearn = from_dict(demo_config(8, ["nl2", "nl2_paper"], [0], data=data)).unlearn
    paper, ours = unlearn["nl2_paper"], unlearn["nl2"]
    assert (paper.kind, paper.decoupled, paper.reduction, paper.gamma) == ("nl2", False, "tensor_mean", 20.0)
    assert ours.decoupled is True and ours.reduction == "sum"
    assert paper.steps == ours.steps and paper.train == ours.train


def test_a_measured_feature_demo_takes_its_oracle_and_judge_where_they_ship(tmp_path, capsys):
    raw = demo_config(8, ["el2", "latent"], [0], feature="thickness:top10")
    shipped = assets.SHIPPED["mnist"]
    oracle, judge = shipped.without_feature("thickness:top10"), shipped.feature_judge("thickness:top10")
    assert judge is not None and judge.name == "mnist_thickness_top10_judge.safetensors"
    assert raw["features"] == [
        {
            "name": "no_thickness_top10",
            "measure": "thickness:top10",
            "retrained": str(oracle) if oracle else None,
            "judge": str(judge),
        }
    ]
    # the digit classifiers do not judge a measurement; the attack is on beside the latent method (the
    # feature's classifier attacks, the measurement judges: study/evaluation.attack_pair)
    assert raw["evaluate"]["judge"] is None and raw["attack"]["judge"] == str(shipped.second_judge())
    assert demo_config(8, ["el2"], [0], feature="thickness:top10")["attack"]["judge"] is None
    assert shipped.without_feature("slant:top10") is None and shipped.feature_judge("slant:top10") is None
    assert from_dict(raw).features[0].measure == "thickness:top10"
    assert atu_main(["demo", "--class", "4", "--feature", "thickness:top10", "--out", str(tmp_path / "a")]) == 2
    assert "--class and --feature" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        atu_main(["demo", "--feature", "thickness:top60", "--out", str(tmp_path / "b")])
    assert refused.value.code == 2 and "(0, 50], got 60" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
