"""`atu run` / `atu demo` studies on tiny models: the configuration's checks, the whole pipeline's
outputs against independent computations (each model file re-evaluated directly, mean ± std
against the statistics module), resume that redoes nothing and continues an interrupted run to the
same numbers, and every refusal before any work."""

import dataclasses
import json
import re
import statistics

import pytest
import torch
import yaml

from atu import checkpoint as ckpt
from atu.classifiers import LeNet, predict, save_classifier
from atu.classifiers.judges import ClassJudge
from atu.cli import main as atu_main
from atu.data import load_dataset
from atu.eval.evaluate import evaluate
from atu.gan import run as gan_run
from atu.study import ConfigError, StudyError, from_dict, load_config, run_study
from atu.study.columns import ordered_columns
from atu.study.evaluation import aggregate, mean_std
from atu.study.report import results_table
from tiny_classifiers import saved_random_lenet
from tiny_gans import TINY_TRAIN, saved_study_models, tiny_study

N_BANK, N_FID = 60, 40


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny 16-px generator (g_ema, d), a random LeNet judge, and a class it assigns to some but
    not all of the generator's samples (so the feedback has both kinds)."""
    root = tmp_path_factory.mktemp("study_inputs")
    G, _, gen = saved_study_models(root)
    clf = root / "c.safetensors"
    classifier = saved_random_lenet(clf, 1, num_classes=10)
    counts = torch.bincount(predict(classifier, G.eval().sample(40, seed=0)), minlength=10)
    c = int(counts.argmax())
    assert 0 < counts[c] < 40, "the random judge must split the samples"
    return {"gen": gen, "clf": clf, "class": c, "root": root}


def _raw(files, **changes):
    return (
        tiny_study(
            files["gen"],
            files["clf"],
            [{"name": "f", "undesired": files["class"], "retrained": str(files["gen"])}],
            k=2,
            n_bank=N_BANK,
            n_fid=N_FID,
            methods=["el2", "adv_only"],
            seeds=[0, 1],
            adapt={"k": 2, "steps": 3, "fisher_samples": 4, "train": dict(TINY_TRAIN)},
            unlearn={"steps": 4, "train": dict(TINY_TRAIN)},
        )
        | changes
    )


@pytest.fixture(scope="module")
def study(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "run"
    cfg = from_dict(_raw(files))
    report = run_study(cfg, out, progress=False, log=lambda msg: None)
    return {"cfg": cfg, "out": out, "report": report}


# ---- configuration ----------------------------------------------------------------------------------


def test_a_yaml_file_reads_with_paths_relative_to_it_and_round_trips(files, tmp_path):
    raw = _raw(files, generator="g.safetensors", classifier="c.safetensors")
    raw["features"][0]["retrained"] = "g.safetensors"
    path = files["root"] / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert cfg.generator == files["gen"] and cfg.features[0].classifier == files["clf"]
    assert cfg.unlearn["adv_only"].gamma == 0 and cfg.unlearn["el2"].kind == "el2"
    assert cfg.unlearn["il2"].gamma == 0.5 and cfg.unlearn["nl2"].gamma == 2.0  # the authors' γ_a = 1
    assert cfg.adapt_config(7).seed == 7 and cfg.adapt_config(7).steps == 3
    again = from_dict(
        {
            **cfg.to_dict(),
            "features": [{k: v for k, v in f.items() if k != "exclude_attribute"} for f in cfg.to_dict()["features"]],
            "extrapolation": {"scales": cfg.extrapolation_scales},
            "unlearn": {"steps": 4, "train": cfg.unlearn["el2"].train.to_dict()},
        }
    )
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"generatr": "x"}, "unknown setting(s) 'generatr'; known here"),
        ({"adapt": {"stepz": 3}}, "adapt.stepz"),
        ({"unlearn": {"methods": {"el2": {"gama": 1}}}}, "unlearn.methods.el2.gama"),
        ({"generator": "/nonexistent/g.pt"}, "generator: /nonexistent/g.pt: no such file"),
        ({"methods": ["el3"]}, "methods: a non-empty list"),
        ({"seeds": [0, 0]}, "seeds: a non-empty list of distinct integers"),
        ({"data": "mnst"}, "data: unknown dataset"),
        ({"data": "folder:/nonexistent"}, "no such folder"),
        ({"features": []}, "features: a non-empty list"),
        ({"features": [{"name": "a/b", "undesired": 1}]}, "plain folder name"),
        ({"features": [{"undesired": 1}, {"undesired": 1}]}, "is used twice"),
        ({"feedback": {"n": 1}}, "feedback: n must be an integer from 2 to 10,000,000"),
        # bounds before any work (before: accepted, and running until killed or failing after stages 1 and 2)
        ({"feedback": {"n": 10**12}}, "feedback: n must be an integer from 2 to 10,000,000"),
        ({"seeds": [10**29]}, "seeds: a non-empty list of distinct integers from 0 to 4,294,967,295"),
        ({"seeds": [-1]}, "seeds: a non-empty list of distinct integers from 0"),
        ({"adapt": {"k": 10**9}}, "adapt: k must be an integer from 1 to 64"),
        ({"adapt": {"steps": 10**23}}, "adapt: steps must be an integer from 1 to 10,000,000"),
        ({"methods": [f"el2@steps={10**23}"]}, "steps must be an integer from 1 to 10,000,000"),
        ({"evaluate": {"n_bank": 10**12}}, "evaluate: n_bank must be an integer from 1"),
        ({"data": "mnist:/etc"}, "data: mnist:/etc: no train-images-idx3-ubyte"),
        ({"features": [{"name": "x" * 300, "undesired": 1}]}, "plain folder name of at most 100 characters"),
        ({"feedback": {"n": "many"}}, "feedback.n: expected an integer"),
        ({"feedback": {"threshold": 1.5}}, "feedback: threshold must be a probability strictly between 0 and 1"),
        ({"feedback": {"threshold": "high"}}, "feedback.threshold: expected a number"),
        ({"feedback": {"negatives": 0}}, "feedback: negatives must be an integer from 1"),
        ({"features": [{"undesired": 8, "negatives": "ten"}]}, "features[0].negatives must be an integer from 1"),
        ({"adapt": {"lam": -1}}, "lam"),
        ({"adapt": {"lam": "5e8"}}, "write 5.0e+8"),
        ({"unlearn": {"gamma": "ten"}}, "unlearn.gamma: expected a number"),
        ({"unlearn": {"alpha": 0}}, "alpha"),
        ({"unlearn": {"decoupled": "yes"}}, "unlearn.decoupled: expected true or false"),
        ({"unlearn": {"methods": {"adv_only": {"gamma": 1}}}}, "adv_only has no repulsion"),
        ({"unlearn": {"methods": {"redact": {"gamma": 1}}}}, "redact has no repulsion"),
        ({"unlearn": {"methods": {"el2+redact": {"redact": 0}}}}, "a weight of 0 is el2"),
        ({"unlearn": {"methods": {"el2": {"redact": 0.1}}}}, "el2 has no redaction term"),
        ({"unlearn": {"methods": {"redact": {"redact_source": "labeller"}}}}, "the other source is redact_labeller"),
        ({"unlearn": {"redact_source": "elsewhere"}}, "redact_source"),
        (
            {"evaluate": {"judge": "/nonexistent/judge.safetensors"}},
            "evaluate.judge: /nonexistent/judge.safetensors: no such file",
        ),
        ({"extrapolation": {"scales": [1, 1]}}, "extrapolation.scales"),
        ({"evaluate": {"n_fid": 1}}, "n_fid must be an integer from 2"),
        ({"schedule": {"log_every": 0}}, "log_every"),
        (
            {"evaluate": {"inception": "/nonexistent/pt_inception.pt"}},
            "evaluate.inception: /nonexistent/pt_inception.pt: no such file",
        ),
        ({"evaluate": {"incepton": "x.pt"}}, "evaluate.incepton"),
    ],
)
def test_bad_configurations_name_what_is_wrong(files, change, message):
    with pytest.raises(ConfigError) as err:
        from_dict(_raw(files, **change))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("seeds: [0]\nseeds: [1]\n", "line 2: the key 'seeds' is given twice"),
        ('{"seeds": [0], "seeds": [1]}', "the key 'seeds' is given twice in one object"),
    ],
)
def test_a_key_given_twice_is_refused_not_silently_overridden(files, tmp_path, text, message):
    suffix = ".json" if text.startswith("{") else ".yaml"
    path = tmp_path / f"study{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_the_fid_network_is_a_path_relative_to_the_file_and_is_checked_before_any_work(files, tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "inception.pt").write_text("not TorchScript")
    raw = _raw(files, evaluate={"n_bank": N_BANK, "n_fid": N_FID, "seed": 3, "inception": "nets/inception.pt"})
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "study.yaml")
    assert cfg.evaluate.inception == tmp_path / "nets" / "inception.pt"
    assert cfg.to_dict()["evaluate"]["inception"] == str(tmp_path / "nets" / "inception.pt")
    assert from_dict(_raw(files)).to_dict()["evaluate"]["inception"] is None
    with pytest.raises(
        StudyError, match="evaluate.inception .*inception.pt: neither a TorchScript module nor a state dict"
    ):
        run_study(cfg, tmp_path / "out", progress=False, log=lambda msg: None)
    assert not (tmp_path / "out").exists()


def test_folder_data_needs_the_attributes_to_leave_out(files, tmp_path):
    with pytest.raises(ConfigError, match="attributes_file"):
        from_dict(_raw(files, data=f"folder:{tmp_path}"))
    with pytest.raises(ConfigError, match="exclude_attribute: only for folder data"):
        from_dict(_raw(files, features=[{"undesired": 1, "exclude_attribute": "Bangs"}]))


@pytest.mark.parametrize("name", ["mnist.yaml", "celebahq.yaml"])
def test_the_example_configurations_are_complete(name, tmp_path):
    """With the user's files in place (empty stand-ins: the configuration checks they exist, the
    run reads them), each example reads as documented."""
    import shutil
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / name
    with pytest.raises(ConfigError, match="no such f"):  # the files are the user's to bring
        load_config(example)
    raw = yaml.safe_load(example.read_text())
    shutil.copy(example, tmp_path / name)
    for key in ("generator", "classifier", "attributes_file"):
        if raw.get(key):
            (tmp_path / raw[key]).touch()
    for feature in raw["features"]:
        for key in ("classifier", "retrained"):
            if feature.get(key):
                (tmp_path / feature[key]).touch()
    folder = raw["data"].partition(":")[2]
    if folder:
        (tmp_path / folder).mkdir()
    cfg = load_config(tmp_path / name)
    assert cfg.adapt.lam == 5e8 and cfg.seeds == [0, 1, 2] and cfg.methods == ["el2", "il2", "nl2", "adv_only"]
    assert cfg.adapt.train.batch_size == 16 and cfg.evaluate.n_bank == 15_000 and cfg.feedback.n == 5000
    assert cfg.unlearn["el2"].gamma == 100 and cfg.unlearn["adv_only"].gamma == 0
    assert len(cfg.features) == (3 if name == "mnist.yaml" else 4)
    assert cfg.evaluate.seed != cfg.feedback.seed  # the PUL bank never holds the feedback samples
    if name == "mnist.yaml":  # the authors' EMA at their batch 16
        assert cfg.adapt.train.ema_half_life_kimg == cfg.unlearn["el2"].train.ema_half_life_kimg == 5


# ---- aggregation and the table ----------------------------------------------------------------------


def test_mean_and_std_over_seeds_match_the_statistics_module():
    values = [95.2, 96.1, 93.8]
    assert mean_std(values) == (pytest.approx(statistics.fmean(values)), pytest.approx(statistics.stdev(values)))
    assert mean_std([4.0]) == (4.0, None)
    assert mean_std([1.0, None]) == (None, None)  # a missing value is never averaged away
    agg = aggregate(
        {
            1: {"pul": 90.0, "fid": 10.0, "ret_fid": None, "n_undesired": 3},
            0: {"pul": 80.0, "fid": 12.0, "ret_fid": None, "n_undesired": 5},
        }
    )
    assert [s["seed"] for s in agg["seeds"]] == [0, 1]
    assert agg["pul"] == 85.0 and agg["pul_std"] == pytest.approx(statistics.stdev([80, 90]))
    assert agg["ret_fid"] is None and agg["n_undesired"] == 4.0
    assert agg["feature_ratio"] is None  # not measured in these records: missing
    ratio = aggregate(
        {
            0: {"pul": 1.0, "fid": 1.0, "ret_fid": None, "n_undesired": 3, "feature_ratio": 3.0},
            1: {"pul": 1.0, "fid": 1.0, "ret_fid": None, "n_undesired": 5, "feature_ratio": 5.0},
        }
    )
    assert ratio["feature_ratio"] == 4.0 and ratio["feature_ratio_std"] == pytest.approx(statistics.stdev([3, 5]))


def test_the_table_has_the_papers_layout():
    m = {
        "n_bank": 100,
        "pretrained": {"fid": 5.4, "ret_fid": None, "n_undesired": 10},
        "methods": {
            "el2": aggregate(
                {
                    0: {"pul": 95.0, "fid": 8.9, "ret_fid": 5.7, "n_undesired": 1},
                    1: {"pul": 97.0, "fid": 9.1, "ret_fid": 5.9, "n_undesired": 0},
                }
            ),
            "extrapolation s=1": aggregate({0: {"pul": 90.0, "fid": 20.0, "ret_fid": 9.0, "n_undesired": 2}}),
            "il2": aggregate({0: {"pul": None, "fid": 7.0, "ret_fid": None, "n_undesired": 0}}),
        },
    }
    assert ordered_columns(m) == ["extrapolation s=1", "il2", "el2"]
    # a METHOD@KEY=VALUE variant follows its method, and no model is left out of the table
    sweep = {"methods": dict.fromkeys(["el2@gamma=3", "filter", "el2", "adv_only", "el2@alpha=0.1", "unknown"])}
    assert ordered_columns(sweep) == ["el2", "el2@gamma=3", "el2@alpha=0.1", "adv_only", "filter", "unknown"]
    lines = results_table(m).splitlines()
    assert lines[0] == "| | Pre-trained | Extrapolation s=1 | IL2 | EL2 |"
    assert lines[2] == "| PUL (%) ↑ | – | 90.00 | – | 96.00 ± 1.41 |"
    assert lines[3] == "| FID ↓ | 5.40 | 20.00 | 7.00 | 9.00 ± 0.14 |"
    assert lines[4].startswith("| Ret-FID ↓ | – | 9.00 | – | 5.80 ± 0.14 |")
    # with a retrained generator, its own PUL and FID close the table as the reference
    lines = results_table({**m, "retrained": {"pul": 80.0, "fid": 4.2, "n_undesired": 2}}).splitlines()
    assert lines[0] == "| | Pre-trained | Extrapolation s=1 | IL2 | EL2 | Retrained (reference) |"
    assert lines[2] == "| PUL (%) ↑ | – | 90.00 | – | 96.00 ± 1.41 | 80.00 |"
    assert lines[3] == "| FID ↓ | 5.40 | 20.00 | 7.00 | 9.00 ± 0.14 | 4.20 |"
    assert lines[4].endswith("| 5.80 ± 0.14 | – |") and lines[5].endswith("| 0.5 ± 0.7 | 2 |")
    assert lines[6] == "| Feature ratio (%) ↓ | – | – | – | – | – |"  # not in these records: missing


def test_the_papers_table_1_sits_beside_ours_as_fid_ratios():
    from atu.study import paper

    m = {
        "class": 8,
        "n_bank": 100,
        "fid_features": {"kind": "classifier"},
        "pretrained": {"fid": 2.0, "ret_fid": 1.5, "n_undesired": 10},
        "methods": {
            "el2": aggregate({0: {"pul": 96.0, "fid": 3.0, "ret_fid": 2.5, "n_undesired": 1}}),
            "extrapolation s=1": aggregate({0: {"pul": 90.0, "fid": 8.0, "ret_fid": 7.0, "n_undesired": 2}}),
            "adv_only": aggregate({0: {"pul": 50.0, "fid": 2.4, "ret_fid": 2.0, "n_undesired": 5}}),
        },
    }
    assert paper.comparable("mnist", 8) and paper.comparable("mnist:/data/mnist", 1)
    assert not paper.comparable("digits", 8) and not paper.comparable("mnist", 3)
    lines = paper.comparison_table(m).splitlines()
    assert lines[2] == "| Pre-trained | – | 5.40 | 1.00× | – | – | 2.00 | 1.00× | 1.50 |"
    # the paper's EL2 for class 8: PUL 95.22, FID 8.89 (8.89 / 5.4 = 1.65×), Ret-FID 5.68; ours 3.0 / 2.0 = 1.50×
    assert "| EL2 | 95.22 | 8.89 | 1.65× | 5.68 | 96.00 | 3.00 | 1.50× | 2.50 |" in lines
    assert "| Adv. only | – | – | – | – | 50.00 | 2.40 | 1.20× | 2.00 |" in lines
    assert "| Extrapolation s=1 | 90.9–95.1 | 17.9–45.8 | 3.3–8.5× | – | 90.00 | 8.00 | 4.00× | 7.00 |" in lines
    assert "judge's feature space" in lines[-1]
    # with the paper's update run beside the decoupled step, the paper's EL2 sits beside the former
    both = {
        **m,
        "methods": {
            **m["methods"],
            "el2_paper": aggregate({0: {"pul": 93.0, "fid": 2.8, "ret_fid": 2.2, "n_undesired": 2}}),
        },
    }
    lines = paper.comparison_table(both).splitlines()
    assert "| EL2 | – | – | – | – | 96.00 | 3.00 | 1.50× | 2.50 |" in lines
    assert "| EL2 (paper's update) | 95.22 | 8.89 | 1.65× | 5.68 | 93.00 | 2.80 | 1.40× | 2.20 |" in lines
    # a variant gets its own row after its method; without atu's EL2 the paper's still has its row
    swept = {
        **m,
        "methods": {"el2@gamma=3": aggregate({0: {"pul": 97.0, "fid": 4.0, "ret_fid": 3.0, "n_undesired": 1}})},
    }
    lines = paper.comparison_table(swept).splitlines()
    rows = [line.split(" | ")[0] for line in lines if line.startswith("| EL2")]
    assert rows == ["| EL2", "| EL2 (gamma=3)"]
    assert "| EL2 | 95.22 | 8.89 | 1.65× | 5.68 | – | – | – | – |" in lines
    assert "| EL2 (gamma=3) | – | – | – | – | 97.00 | 4.00 | 2.00× | 3.00 |" in lines


def test_the_papers_claims_are_checked_on_its_own_update_where_that_ran():
    """The paper's claims (PUL ≥ 95%, FID ≤ 1.5×, recall ≥ 0.9×, adv. only below EL2) are checked on
    el2_paper where it ran, else on the decoupled el2, and named after the model they were checked on."""
    from atu.study.report import quality_checks

    def run(pul, fid, recall):
        return aggregate({0: {"pul": pul, "fid": fid, "ret_fid": None, "recall": recall, "n_undesired": 1}})

    pre = {"fid": 2.0, "recall": 50.0, "n_undesired": 10}
    decoupled, papers = run(96.0, 3.5, 40.0), run(93.0, 2.8, 47.0)
    both = quality_checks({"pretrained": pre, "methods": {"el2": decoupled, "el2_paper": papers}})
    assert both[:3] == [
        "- EL2 (paper's update) PUL ≥ 95%: 93.0% → **not met**",
        "- EL2 (paper's update) FID ≤ 1.5 × pre-trained (3.00): 2.80 → **met**",
        "- EL2 (paper's update) recall ≥ 0.9 × pre-trained (45.0%): 47.0% → **met**",
    ]
    alone = quality_checks({"pretrained": pre, "methods": {"el2": decoupled, "adv_only": run(97.0, 2.1, 50.0)}})
    assert alone == [
        "- EL2 PUL ≥ 95%: 96.0% → **met**",
        "- EL2 FID ≤ 1.5 × pre-trained (3.00): 3.50 → **not met**",
        "- EL2 recall ≥ 0.9 × pre-trained (45.0%): 40.0% → **not met**",
        "- the adversarial-only ablation removes less than EL2: PUL 97.0% vs 96.0% → **not met**",
    ]
    assert quality_checks({"pretrained": pre, "methods": {"nl2_paper": papers}})[0].startswith("(neither")


# ---- the pipeline -----------------------------------------------------------------------------------


def test_a_study_writes_every_run_and_a_report(study):
    out = study["out"]
    for seed in (0, 1):
        for j in (0, 1):
            assert (out / "f" / f"seed_{seed}" / "adapt" / f"model_{j}" / "model.safetensors").is_file()
        for method in ("el2", "adv_only"):
            model = out / "f" / f"seed_{seed}" / method / "model.safetensors"
            assert ckpt.load_atu(model).metadata["run"]["seed"] == seed
        assert (out / "f" / f"seed_{seed}" / "extrapolation" / "strip.png").is_file()
    for name in ("el2", "adv_only", "extrapolation_s1"):
        assert (out / "f" / "grids" / f"{name}.png").is_file()
    assert (out / "f" / "curves" / "el2_penalty.png").is_file()
    report = (out / "f" / "report.md").read_text()
    assert "| | Pre-trained | Extrapolation s=1 | EL2 | Adv. only |" in report and "EL2 PUL ≥ 95%" in report
    el2 = study["cfg"].unlearn["el2"]  # the runs' line says how each repelled
    assert (
        f"el2 4 steps γ = {el2.gamma:g} (el2 α = {el2.alpha:g}, {el2.reduction} distance, coupled)" in report
        and "; adv_only 4 steps γ = 0\n" in report
    )
    assert study["report"] == out / "report.md" and "full report" in study["report"].read_text()
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["methods"] == ["el2", "adv_only"] and stored["unlearn"]["adv_only"]["gamma"] == 0


def test_the_metrics_are_those_of_the_model_files_evaluated_directly(study, files):
    """Independent check: every seed's model file evaluated by `atu.eval.evaluate.evaluate` on its own,
    and the means / stds recomputed with the statistics module."""
    from atu.classifiers import load_classifier

    out, c = study["out"], files["class"]
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    classifier = load_classifier(files["clf"])
    G = ckpt.load(files["gen"]).generator().eval()
    real = load_dataset("digits", resolution=16, exclude_classes=[c]).images()
    assert metrics["class"] == c and metrics["feedback"]["n"] == 40
    assert metrics["feedback"]["rule"] == "predicted class"
    for method in ("el2", "adv_only"):
        puls, fids = [], []
        for seed in (0, 1):
            model = ckpt.load(out / "f" / f"seed_{seed}" / method / "model.safetensors").generator().eval()
            direct = evaluate(
                G, {"m": model}, ClassJudge(classifier, c), real, retrained=G, n_bank=N_BANK, n_fid=N_FID, seed=3
            )
            recorded = metrics["methods"][method]["seeds"][seed]
            assert recorded["n_undesired"] == direct["methods"]["m"]["n_undesired"]
            assert recorded["fid"] == pytest.approx(direct["methods"]["m"]["fid"], rel=1e-9)
            assert recorded["ret_fid"] == pytest.approx(direct["methods"]["m"]["ret_fid"], rel=1e-9)
            puls.append(direct["methods"]["m"]["pul"])
            fids.append(direct["methods"]["m"]["fid"])
        assert metrics["methods"][method]["fid"] == pytest.approx(statistics.fmean(fids), rel=1e-9)
        assert metrics["methods"][method]["fid_std"] == pytest.approx(statistics.stdev(fids), rel=1e-6)
        if None not in puls:
            assert metrics["methods"][method]["pul"] == pytest.approx(statistics.fmean(puls))
    assert metrics["pretrained"]["ret_fid"] == pytest.approx(0.0, abs=1e-6)  # retrained = the generator itself


def test_the_feedback_threshold_of_a_study_labels_by_probability(files, tmp_path):
    from types import SimpleNamespace

    from atu.classifiers import load_classifier
    from atu.feedback import draw_bank, label_with_classifier, load_bundle, save_bundle, uint8_to_images
    from atu.study.config import FeedbackSpec
    from atu.study.runner import _feedback

    classifier = load_classifier(files["clf"])
    bank_file = tmp_path / "bank.safetensors"
    bank = draw_bank(ckpt.load(files["gen"]).generator().eval(), 40, seed=0)
    save_bundle(bank_file, bank)
    with torch.no_grad():
        p = torch.softmax(classifier(uint8_to_images(bank.images)).double(), 1)[:, files["class"]].sort().values
    cut = float(p[19] + p[20]) / 2  # half the samples above
    feature = SimpleNamespace(name="f", undesired=files["class"], classifier=files["clf"], measure=None, negatives=None)
    inputs = SimpleNamespace(classifiers={"f": classifier})
    spec = FeedbackSpec(n=40, threshold=cut)
    written = load_bundle(_feedback(feature, bank_file, inputs, spec, tmp_path, log=lambda message: None))
    expected = label_with_classifier(bank, classifier, files["class"], threshold=cut)
    assert torch.equal(written.undesired, expected.undesired) and written.n_undesired == 20
    assert written.metadata["labeller"]["threshold"] == cut


def _model_files(out):
    return {p: p.stat().st_mtime_ns for p in out.rglob("model.safetensors")}


def test_resume_redoes_nothing_and_added_seeds_and_methods_run_alone(study, files, tmp_path):
    out = tmp_path / "copy"
    import shutil

    shutil.copytree(study["out"], out)
    before = _model_files(out)
    run_study(from_dict(_raw(files)), out, resume=True, progress=False, log=lambda m: None)
    assert _model_files(out) == before
    run_study(
        from_dict(_raw(files, seeds=[0, 1, 2], methods=["el2", "adv_only", "nl2"])),
        out,
        resume=True,
        progress=False,
        log=lambda m: None,
    )
    after = _model_files(out)
    assert all(after[p] == t for p, t in before.items())  # nothing finished was redone
    assert (out / "f" / "seed_2" / "el2" / "model.safetensors") in after
    assert (out / "f" / "seed_0" / "nl2" / "model.safetensors") in after
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    assert [s["seed"] for s in metrics["methods"]["el2"]["seeds"]] == [0, 1, 2] and "nl2" in metrics["methods"]


def test_a_resume_keeps_the_evaluation_of_the_same_models_and_judges_a_replaced_one_again(
    study, files, tmp_path, monkeypatch
):
    """Resuming a finished study judges nothing again (metrics.json kept byte for byte, the report
    rewritten from it); once a model file holds other bytes, the stored evaluation is stale."""
    import shutil

    from atu.study import runner

    out = tmp_path / "copy"
    shutil.copytree(study["out"], out)
    judged = []
    real = runner.evaluate_feature
    monkeypatch.setattr(runner, "evaluate_feature", lambda *a, **k: judged.append(1) or real(*a, **k))
    stored = (out / "f" / "metrics.json").read_bytes()
    (out / "f" / "report.md").unlink()
    run_study(from_dict(_raw(files)), out, resume=True, progress=False, log=lambda m: None)
    assert judged == [] and (out / "f" / "metrics.json").read_bytes() == stored
    assert (out / "f" / "report.md").read_text() == (study["out"] / "f" / "report.md").read_text()

    seeds = out / "f" / "seed_0" / "el2", out / "f" / "seed_1" / "el2"
    shutil.copyfile(seeds[0] / "model.safetensors", seeds[1] / "model.safetensors")
    run_study(from_dict(_raw(files)), out, resume=True, progress=False, log=lambda m: None)
    assert judged == [1]
    el2 = json.loads((out / "f" / "metrics.json").read_text())["methods"]["el2"]["seeds"]
    assert el2[1]["fid"] == pytest.approx(el2[0]["fid"], rel=1e-9)  # the same model now, on the same bank
    assert el2[1]["fid"] != pytest.approx(json.loads(stored)["methods"]["el2"]["seeds"][1]["fid"], rel=1e-6)


def test_the_evaluation_key_follows_the_bytes_of_named_files_and_a_data_folders_listing(files, tmp_path):
    import shutil

    from atu.study.reuse import _digest_of, evaluation_key

    clf = tmp_path / "clf.safetensors"
    shutil.copyfile(files["clf"], clf)
    cfg = from_dict(_raw(files, classifier=str(clf)))
    before = evaluation_key(cfg, tmp_path / "f")
    assert evaluation_key(cfg, tmp_path / "f") == before
    with open(clf, "ab") as fh:
        fh.write(b"\0")
    assert evaluation_key(cfg, tmp_path / "f") != before

    folder = tmp_path / "images"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "1.png").write_bytes(b"x")
    listed = _digest_of(f"folder:{folder}")
    (folder / "a" / "2.png").write_bytes(b"y")
    assert listed is not None and _digest_of(f"folder:{folder}") != listed
    assert _digest_of("mnist") is None and _digest_of(str(clf)) is not None


def test_a_resume_that_names_only_new_methods_keeps_and_reports_the_stored_ones(study, files, tmp_path):
    """--resume with one new variant, then with the first methods only: each run adds what it names,
    the variant keeps its stored settings when not named again, and config.json, metrics.json and
    the report always cover every run the folder holds; nothing finished is redone."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(study["out"], out)
    before = _model_files(out)
    variant = "el2@gamma=3000"
    run_study(
        from_dict(_raw(files, methods=[variant], seeds=[0])), out, resume=True, progress=False, log=lambda m: None
    )
    added = _model_files(out)
    assert {p: added[p] for p in before} == before and (out / "f" / "seed_1" / variant / "model.safetensors") in added
    run_study(from_dict(_raw(files)), out, resume=True, progress=False, log=lambda m: None)
    assert _model_files(out) == added
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["methods"] == ["el2", "adv_only", variant] and stored["seeds"] == [0, 1]
    assert stored["unlearn"][variant]["gamma"] == 3000
    metrics = json.loads((out / "f" / "metrics.json").read_text())["methods"]
    assert {"el2", "adv_only", variant} <= set(metrics)
    assert all([s["seed"] for s in metrics[m]["seeds"]] == [0, 1] for m in ("el2", "adv_only", variant))
    assert "EL2 (gamma=3000)" in (out / "f" / "report.md").read_text()


def test_an_interrupted_study_resumes_to_the_same_numbers(study, files, tmp_path, monkeypatch):
    """Ctrl-C during seed 1's stage 2 (after its first checkpoint), then --resume: the metrics equal
    the uninterrupted study's exactly."""
    out = tmp_path / "interrupted"
    cfg = from_dict(_raw(files))
    real_run = gan_run.TrainingRun.run

    def interrupted(self):
        if self.out.name == "el2" and self.out.parent.name == "seed_1":
            original_step = self.trainer.train_step

            def step(batch):
                logs = original_step(batch)
                if self.trainer.step == 3:
                    raise KeyboardInterrupt
                return logs

            self.trainer.train_step = step
        return real_run(self)

    monkeypatch.setattr(gan_run.TrainingRun, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, out, progress=False, log=lambda m: None)
    monkeypatch.setattr(gan_run.TrainingRun, "run", real_run)
    assert (out / "f" / "seed_1" / "el2" / "checkpoint.safetensors").is_file()
    assert not (out / "f" / "seed_1" / "el2" / "model.safetensors").exists()
    run_study(cfg, out, resume=True, progress=False, log=lambda m: None)
    got = json.loads((out / "f" / "metrics.json").read_text())["methods"]
    want = json.loads((study["out"] / "f" / "metrics.json").read_text())["methods"]
    assert got == want


def test_a_study_folders_config_json_runs_the_same_study_again(study, tmp_path):
    """config.json (resolved settings + provenance) read back as a configuration gives the same
    configuration, and running it in another folder gives the same numbers."""
    stored = json.loads((study["out"] / "config.json").read_text())["config"]
    again = load_config(study["out"] / "config.json")
    assert again.to_dict() == stored
    run_study(again, tmp_path / "again", progress=False, log=lambda m: None)
    got = json.loads((tmp_path / "again" / "f" / "metrics.json").read_text())["methods"]
    assert got == json.loads((study["out"] / "f" / "metrics.json").read_text())["methods"]


@pytest.mark.parametrize(
    "unlearn, message",
    [
        ({"el2": {"kind": "il2", "alpha": 1.0}}, "unlearn.el2.kind: 'il2' is not the kind of method 'el2'"),
        ({"adv_only": {"kind": "el2", "gamma": 3.0}}, "adv_only has no repulsion"),
        ({"el2": {"kind": "el2", "alfa": 1.0}}, "unlearn.methods.el2.alfa"),
    ],
)
def test_a_resolved_unlearn_section_is_checked_like_the_file_form(files, unlearn, message):
    with pytest.raises(ConfigError) as err:
        from_dict(_raw(files, unlearn=unlearn))
    assert message in str(err.value)


def test_el2_paper_is_el2_with_the_coupled_update_whatever_unlearn_decoupled_says(files):
    cfg = from_dict(_raw(files, methods=["el2", "el2_paper"], unlearn={"steps": 4, "decoupled": True, "gamma": 7.0}))
    el2, paper_el2 = cfg.unlearn_config("el2", 0), cfg.unlearn_config("el2_paper", 0)
    assert el2.kind == paper_el2.kind == "el2" and el2.gamma == paper_el2.gamma == 7.0
    assert el2.decoupled is True and paper_el2.decoupled is False
    with pytest.raises(ConfigError, match="el2_paper is EL2 with the paper's coupled update"):
        from_dict(_raw(files, unlearn={"methods": {"el2_paper": {"decoupled": True}}}))


def test_nl2_paper_is_nl2_with_the_coupled_update_at_the_top_of_the_papers_range(files):
    """nl2_paper: NL2 coupled, γ = γ_a·k²/2 at γ_a = 10 (its own default over the study's shared γ,
    which a per-method setting still overrides), whatever unlearn.decoupled says."""
    shared = {"steps": 4, "decoupled": True, "gamma": 7.0}
    cfg = from_dict(_raw(files, methods=["nl2", "nl2_paper"], unlearn=shared))
    nl2, paper_nl2 = cfg.unlearn_config("nl2", 0), cfg.unlearn_config("nl2_paper", 0)
    assert nl2.kind == paper_nl2.kind == "nl2"
    assert (nl2.decoupled, paper_nl2.decoupled) == (True, False)
    k = 2  # the authors' NL2 −γ_a·v is nl2 with γ = γ_a·k²/2: γ_a = 1 for nl2, 10 for nl2_paper
    assert (nl2.gamma, paper_nl2.gamma) == (1 * k**2 / 2, 10 * k**2 / 2)
    own = {**shared, "methods": {"nl2_paper": {"gamma": 3.0}}}
    assert from_dict(_raw(files, methods=["nl2_paper"], unlearn=own)).unlearn_config("nl2_paper", 0).gamma == 3.0
    with pytest.raises(ConfigError, match="nl2_paper is NL2 with the paper's coupled update"):
        from_dict(_raw(files, unlearn={"methods": {"nl2_paper": {"decoupled": True}}}))


def test_the_redaction_methods_resolve_to_their_definitions(files):
    methods = ["redact", "redact_labeller", "el2+redact", "il2+redact", "nl2+redact", "filter"]
    cfg = from_dict(_raw(files, methods=methods, unlearn={"steps": 4, "gamma": 7.0}))
    redact, labeller, el2r = (cfg.unlearn_config(m, 0) for m in ("redact", "redact_labeller", "el2+redact"))
    assert (redact.gamma, redact.redact, redact.redact_source) == (0.0, 0.1, "negatives")
    assert (labeller.gamma, labeller.redact, labeller.redact_source) == (0.0, 0.1, "labeller")
    assert (el2r.kind, el2r.gamma, el2r.redact) == ("el2", 7.0, 0.1)
    assert cfg.unlearn_config("il2+redact", 0).kind == "il2" and cfg.unlearn_config("il2+redact", 0).gamma == 0.5
    paper = from_dict(_raw(files, methods=["el2_paper+redact"], unlearn={"steps": 4, "decoupled": True}))
    paper_redact = paper.unlearn_config("el2_paper+redact", 0)  # the paper's update whatever the study's step
    assert (paper_redact.kind, paper_redact.decoupled, paper_redact.redact) == ("el2", False, 0.1)
    assert "redact" not in cfg.to_dict()["unlearn"]["el2"]  # the other methods' records are unchanged
    shared = from_dict(_raw(files, methods=methods, unlearn={"steps": 4, "redact": 0.3, "redact_source": "labeller"}))
    assert (
        shared.unlearn_config("redact", 0).redact == 0.3
        and shared.unlearn_config("redact", 0).redact_source == "negatives"
    )
    assert shared.unlearn_config("el2+redact", 0).redact_source == "labeller"
    assert shared.unlearn_config("el2", 0).redact == 0.0
    again = from_dict(
        {
            **cfg.to_dict(),
            "features": [{k: v for k, v in f.items() if k != "exclude_attribute"} for f in cfg.to_dict()["features"]],
            "extrapolation": {"scales": cfg.extrapolation_scales},
        }
    )
    assert again.to_dict() == cfg.to_dict()


def test_a_study_with_the_redaction_family_the_filter_and_a_second_judge(files, tmp_path):
    torch.manual_seed(2)
    judge_file = tmp_path / "judge.safetensors"
    save_classifier(judge_file, LeNet(num_classes=10, resolution=16).eval(), {})
    raw = _raw(
        files,
        methods=["redact", "el2+redact", "filter"],
        seeds=[0],
        evaluate={"n_bank": N_BANK, "n_fid": N_FID, "seed": 3, "judge": str(judge_file)},
    )
    out = tmp_path / "run"
    run_study(from_dict(raw), out, progress=False, log=lambda msg: None)
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"extrapolation s=1", "redact", "el2+redact", "filter"}
    assert not (out / "f" / "seed_0" / "filter").exists()
    log = [json.loads(line) for line in (out / "f" / "seed_0" / "redact" / "log.jsonl").read_text().splitlines()]
    assert all(r["redact"] > 0 for r in log)
    # the second judge's counts and the filter's, against the same evaluation made directly
    from atu.classifiers import load_classifier
    from atu.eval.filtering import FilteredSampler

    G = ckpt.load(files["gen"]).generator("g_ema").eval()
    labeller, judge = load_classifier(files["clf"]), load_classifier(judge_file)
    real = load_dataset("digits", resolution=16, exclude_classes=[files["class"]]).images()
    redacted = ckpt.load(out / "f" / "seed_0" / "redact" / "model.safetensors").generator("g_ema").eval()
    direct = evaluate(
        G,
        {"redact": redacted, "filter": FilteredSampler(G, labeller, files["class"])},
        ClassJudge(labeller, files["class"]),
        real,
        retrained=G,
        n_bank=N_BANK,
        n_fid=N_FID,
        seed=3,
        second_judge=ClassJudge(judge, files["class"]),
    )
    for name in ("redact", "filter"):
        for key in ("n_undesired", "n_undesired_judge2", "pul_judge2"):
            assert metrics["methods"][name][key] == direct["methods"][name][key], (name, key)
    assert metrics["methods"]["filter"]["n_undesired"] == 0
    assert metrics["methods"]["filter"]["rejected"] == pytest.approx(direct["methods"]["filter"]["rejected"])
    report = (out / "f" / "report.md").read_text()
    assert "## Recommendation" in report and "PUL, judge 2" in report and "Draws rejected" in report
    assert (out / "f" / "tradeoff.png").is_file() == ("tradeoff.png" in report)


def test_a_study_without_repulsion_or_extrapolation_runs_no_stage_1_and_sweeps_a_setting(files, tmp_path):
    """adv_only and redact train without the adapted models, so nothing asks for stage 1 (el2, γ > 0,
    or the extrapolation make it needed again); redact@redact=0.5 is redact with that one weight
    changed, a run of its own."""
    variant = "redact@redact=0.5"
    raw = _raw(
        files,
        methods=["adv_only", "redact", variant, "filter"],
        seeds=[0],
        extrapolation={"scales": []},
        unlearn={"steps": 4, "redact": 0.2, "train": {"batch_size": 4, "d_reg_every": 2, "g_reg_every": 2}},
    )
    cfg = from_dict(raw)
    assert not cfg.needs_stage1()
    assert from_dict({**raw, "methods": ["adv_only", "el2"]}).needs_stage1()
    assert from_dict({**raw, "methods": ["redact", "el2+redact@gamma=3"]}).needs_stage1()
    assert from_dict({**raw, "extrapolation": {"scales": [1.0]}}).needs_stage1()
    assert dataclasses.replace(cfg.unlearn[variant], redact=0.2) == cfg.unlearn["redact"]
    assert (cfg.unlearn[variant].redact, cfg.unlearn[variant].redact_source) == (0.5, "negatives")
    out = tmp_path / "run"
    run_study(cfg, out, progress=False, log=lambda msg: None)
    sdir = out / "f" / "seed_0"
    assert not (sdir / "adapt").exists()
    for method in ("adv_only", "redact", variant):
        run = json.loads((sdir / method / "run.json").read_text())
        assert run["inputs"]["adapted"] == [] and (sdir / method / "model.safetensors").is_file()
        assert run["config"] == cfg.unlearn_config(method, 0).to_dict()
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"adv_only", "redact", variant, "filter"}
    report = (out / "f" / "report.md").read_text()
    assert "| | Pre-trained | Adv. only | Redact | Redact (redact=0.5) | Filter (reference) |" in report
    again = from_dict(json.loads((out / "config.json").read_text())["config"])  # the resolved form reads back
    assert again.unlearn[variant] == cfg.unlearn[variant] and again.methods == cfg.methods


def test_a_study_that_marks_only_the_first_negatives(files, tmp_path, monkeypatch):
    """feedback.negatives: stage 1 adapts to the first N undesired samples of the bank, stage 2 trains
    on all of its desired ones; run.json, metrics.json and the report say so. A feature's own
    negatives overrides the study's, and features removing one class at two counts make the report's
    negatives-against-quality curve, measuring the pre-trained model and the real data once."""
    from atu.classifiers import load_classifier
    from atu.feedback import load_bundle, uint8_to_images
    from atu.study import evaluation

    loaded = []
    real_images = evaluation.real_images
    monkeypatch.setattr(evaluation, "real_images", lambda *a: loaded.append(a[1].name) or real_images(*a))

    raw = _raw(files, methods=["el2"], seeds=[0], extrapolation={"scales": []})
    raw["feedback"] = {**raw["feedback"], "negatives": 3}
    raw["features"] = [*raw["features"], {**raw["features"][0], "name": "g", "negatives": 2}]
    cfg = from_dict(raw)
    out = tmp_path / "run"
    run_study(cfg, out, progress=False, log=lambda msg: None)
    bank = load_bundle(out / "bank.safetensors")
    feedback = load_bundle(out / "f" / "feedback.safetensors")
    images = uint8_to_images(bank.images)
    undesired = torch.nonzero(predict(load_classifier(files["clf"]), images) == files["class"])
    first = undesired.flatten()[:3].tolist()
    assert feedback.n_undesired == 3 and torch.equal(feedback.latents[feedback.undesired], bank.latents[first])
    assert len(feedback) == 40 - undesired.numel() + 3
    metrics = json.loads((out / "f" / "metrics.json").read_text())
    assert metrics["feedback"]["negatives"] == {
        "n": 3,
        "within_first": first[-1] + 1,
        "left_out": undesired.numel() - 3,
    }
    assert (
        f"the first 3 undesired samples marked (predicted class), found within the bank's first {first[-1] + 1}"
        in (out / "f" / "report.md").read_text()
    )
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["feedback"]["negatives"] == 3 and [f.get("negatives") for f in stored["features"]] == [None, 2]
    assert "negatives" not in from_dict(_raw(files)).to_dict()["feedback"]  # older studies still resume
    own = load_bundle(out / "g" / "feedback.safetensors")
    assert own.n_undesired == 2 and torch.equal(own.latents[own.undesired], bank.latents[first[:2]])
    assert json.loads((out / "g" / "metrics.json").read_text())["feedback"]["negatives"]["n"] == 2
    assert loaded == ["f"]
    assert json.loads((out / "g" / "metrics.json").read_text())["pretrained"] == metrics["pretrained"]
    curve = json.loads((out / "marks.json").read_text())[f"class{files['class']}"]
    assert [p["negatives"] for p in curve["points"]] == [2, 3]
    assert "## Negatives marked against quality" in (out / "report.md").read_text()
    assert (out / f"marks_class{files['class']}_pul.png").is_file()
    raw["feedback"]["negatives"] = 40
    with pytest.raises(StudyError, match="feedback.negatives: 40 negatives asked for, but the bank holds"):
        run_study(from_dict(raw), tmp_path / "too_many", progress=False, log=lambda msg: None)
    raw["feedback"]["negatives"], raw["features"][1]["negatives"] = 2, 40
    with pytest.raises(StudyError, match="feature 'g': negatives: 40 negatives asked for"):
        run_study(from_dict(raw), tmp_path / "too_many_g", progress=False, log=lambda msg: None)


@pytest.mark.parametrize(
    "variant, message",
    [
        ("el2@", "METHOD@KEY=VALUE"),
        ("latent@alpha=3", "METHOD@KEY=VALUE"),
        ("el2@gamma", "METHOD@KEY=VALUE"),
        ("el2@nope=1", "nope"),
        ("adv_only@gamma=5", "no repulsion"),
        ("redact@redact=0", "defined by its redaction"),
        ("el2@redact=0.1", "no redaction term"),
        ("el2@gamma=[1]", "a number"),
        ("bogus", "methods"),
    ],
)
def test_a_bad_variant_names_itself(files, variant, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict(_raw(files, methods=["el2", variant]))


def test_a_study_written_before_a_method_existed_still_resumes(study, files, tmp_path):
    """config.json from before el2_paper existed has no unlearn.el2_paper: resuming is allowed."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(study["out"], old)
    stored = json.loads((old / "config.json").read_text())
    del stored["config"]["unlearn"]["el2_paper"]
    (old / "config.json").write_text(json.dumps(stored))
    run_study(from_dict(_raw(files)), old, resume=True, progress=False, log=lambda m: None)


def test_a_method_the_study_did_not_run_resumes_with_its_settings_of_today(study, files, tmp_path):
    """config.json records every method's resolved settings, run or not: one it did not run (here
    el2_paper, recorded with another γ, as when atu redefined it) is added on resume with today's
    settings; one it ran is still held to its stored settings."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(study["out"], old)
    stored = json.loads((old / "config.json").read_text())
    stored["config"]["unlearn"]["el2_paper"]["gamma"] = 999.0
    (old / "config.json").write_text(json.dumps(stored))
    run_study(from_dict(_raw(files, methods=["el2_paper"])), old, resume=True, progress=False, log=lambda m: None)
    today = from_dict(_raw(files)).unlearn["el2_paper"]
    for seed in (0, 1):
        ran = json.loads((old / "f" / f"seed_{seed}" / "el2_paper" / "run.json").read_text())["config"]
        assert ran["gamma"] == today.gamma != 999.0
    resumed = json.loads((old / "config.json").read_text())["config"]
    assert (
        resumed["methods"] == ["el2", "adv_only", "el2_paper"]
        and resumed["unlearn"]["el2_paper"]["gamma"] == today.gamma
    )
    resumed["unlearn"]["el2"]["gamma"] = 999.0
    (old / "config.json").write_text(json.dumps({"config": resumed}))
    with pytest.raises(StudyError, match=r"differs in \['unlearn'\]"):
        run_study(from_dict(_raw(files)), old, resume=True, progress=False, log=lambda m: None)


def test_existing_or_missing_studies_and_changed_configurations_are_refused(study, files, tmp_path):
    with pytest.raises(StudyError, match="already holds a study"):
        run_study(from_dict(_raw(files)), study["out"], progress=False)
    with pytest.raises(StudyError, match="nothing to resume"):
        run_study(from_dict(_raw(files)), tmp_path / "none", resume=True, progress=False)
    with pytest.raises(StudyError, match=r"differs in \['adapt'\]"):
        run_study(from_dict(_raw(files, adapt={"k": 3})), study["out"], resume=True, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="not empty"):
        run_study(from_dict(_raw(files)), tmp_path / "busy", progress=False)


def test_the_command_line_refuses_bad_input_before_any_work(files, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_raw(files, methods=["el9"])))
    assert atu_main(["run", str(bad), "--out", str(tmp_path / "o1")]) == 2
    assert "methods" in capsys.readouterr().err and not (tmp_path / "o1").exists()
    (tmp_path / "broken.yaml").write_text("generator: [unclosed")
    assert atu_main(["run", str(tmp_path / "broken.yaml"), "--out", str(tmp_path / "o2")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    wrong_class = tmp_path / "wrong.yaml"
    wrong_class.write_text(yaml.safe_dump(_raw(files, features=[{"undesired": 12}])))
    assert atu_main(["run", str(wrong_class), "--out", str(tmp_path / "o3")]) == 2
    assert "class 12 is not one of the classifier's 10 classes" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()
    assert atu_main(["demo", "--class", "10", "--out", str(tmp_path / "o4")]) == 2
    assert "classes 0..9" in capsys.readouterr().err and not (tmp_path / "o4").exists()


def _tensors(path):
    loaded = ckpt.load_atu(path)
    return {f"{group}/{name}": t for group, sd in loaded.state_dicts.items() for name, t in sd.items()}


def test_a_study_on_two_processes_equals_the_one_process_study(files, tmp_path):
    """--processes 2: stage 1's two models side by side (bit for bit those of one process, which
    trains them on one thread too) and stage 2 data parallel (batch 8: whole minibatch-stddev groups
    on each rank): equal up to rounding, so the evaluation's FIDs agree closely and PUL counts exactly."""
    train = {"batch_size": 8, "d_reg_every": 2, "g_reg_every": 2}
    raw = _raw(files, methods=["el2", "redact"], seeds=[0], unlearn={"steps": 3, "train": train})
    one, two = tmp_path / "one", tmp_path / "two"
    run_study(from_dict(raw), one, progress=False, log=lambda msg: None)
    said = []
    run_study(from_dict(raw), two, progress=False, log=said.append, processes=2)
    assert any("2 side by side" in m for m in said) and any("data parallel over 2" in m for m in said)
    seed = "f/seed_0"
    for j in range(2):
        got, want = (
            _tensors(two / seed / "adapt" / f"model_{j}" / "model.safetensors"),
            _tensors(one / seed / "adapt" / f"model_{j}" / "model.safetensors"),
        )
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), j
    for method in ("el2", "redact"):
        got, want = (_tensors(folder / seed / method / "model.safetensors") for folder in (two, one))
        assert got.keys() == want.keys()
        for key, t in want.items():
            if t.is_floating_point():
                torch.testing.assert_close(got[key], t, rtol=1e-4, atol=1e-5, msg=f"{method} {key}")
        assert json.loads((two / seed / method / "run.json").read_text())["processes"] == 2
    got, want = (json.loads((folder / "f" / "metrics.json").read_text()) for folder in (two, one))
    assert got["pretrained"]["n_undesired"] == want["pretrained"]["n_undesired"]
    assert got["pretrained"]["fid"] == pytest.approx(want["pretrained"]["fid"], rel=1e-6)
    for name, m in want["methods"].items():
        assert got["methods"][name]["fid"] == pytest.approx(m["fid"], rel=1e-3), name


def test_processes_are_checked_before_any_work(files, tmp_path):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(StudyError, match="--processes must be a whole number"):
            run_study(from_dict(_raw(files)), tmp_path / "out", progress=False, processes=bad)
    assert not (tmp_path / "out").exists()
    from atu.study.runner import check_processes

    check_processes(1, "cuda")
    with pytest.raises(StudyError, match="several processes are for CPU runs"):
        check_processes(2, "cuda:0")
