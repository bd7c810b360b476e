"""`atu evaluate` on tiny models: metrics equal independent counts and FIDs; Ret-FID missing when no
retrained model is given; bad input refused before anything is written."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

import atu
from atu.classifiers import LeNet, feature_fn, predict, save_classifier
from atu.classifiers.judges import ClassJudge
from atu.cli import main as atu_main
from atu.eval.evaluate import evaluate
from atu.eval.extractors import load_inception, to_inception_input
from atu.eval.fid import fid
from atu.models import Discriminator, Generator, narrow_channels
from tiny_gans import save_pretrained

# torch.jit is what the standard FID network ships as; torch 2.13 flags it deprecated
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


def _generator(seed):
    torch.manual_seed(seed)
    return Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(3)
    return LeNet(num_classes=2, resolution=16).eval()


def test_class_shares_are_each_class_s_share_of_every_model_s_bank(classifier):
    G, other = _generator(0), _generator(1)
    real = torch.rand(30, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    judge = ClassJudge(classifier, 1)
    m = evaluate(
        G, {"other": other}, judge, real, retrained=other, n_bank=40, n_fid=20, seed=5, class_shares=classifier
    )
    for key, model in (("pretrained", G), ("retrained", other)):
        counted = torch.bincount(predict(classifier, model.sample(40, seed=5)), minlength=classifier.num_classes)
        assert m[key]["class_shares"] == pytest.approx((100 * counted / 40).tolist())
    assert m["methods"]["other"]["class_shares"] == m["retrained"]["class_shares"]
    assert sum(m["pretrained"]["class_shares"]) == pytest.approx(100)
    # the shares ride along: the counts of the feature are those of an evaluation without them
    without = evaluate(G, {"other": other}, judge, real, retrained=other, n_bank=40, n_fid=20, seed=5)
    assert "class_shares" not in without["pretrained"]
    assert without["methods"]["other"]["n_undesired"] == m["methods"]["other"]["n_undesired"]


def test_metrics_match_independent_counts_and_fids(classifier):
    G, other = _generator(0), _generator(1)
    real = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    m = evaluate(
        G, {"same": G, "other": other}, ClassJudge(classifier, 1), real, retrained=other, n_bank=40, n_fid=30, seed=5
    )
    n_g = int((predict(classifier, G.sample(40, seed=5)) == 1).sum())
    n_o = int((predict(classifier, other.sample(40, seed=5)) == 1).sum())
    assert m["pretrained"]["n_undesired"] == n_g and m["methods"]["other"]["n_undesired"] == n_o
    # the target feature ratio: the share of the bank the classifier reads as the feature, in percent
    assert m["pretrained"]["feature_ratio"] == pytest.approx(100 * n_g / 40)
    assert m["methods"]["other"]["feature_ratio"] == pytest.approx(100 * n_o / 40)
    assert m["retrained"]["feature_ratio"] == pytest.approx(100 * n_o / 40)
    assert m["methods"]["same"]["pul"] == 0.0
    if n_g:
        assert m["methods"]["other"]["pul"] == pytest.approx(100 * (n_g - n_o) / n_g)
    f = feature_fn(classifier)
    assert m["pretrained"]["fid"] == pytest.approx(fid(f, G.sample(30, seed=6), real), rel=1e-9)
    assert m["methods"]["other"]["ret_fid"] == pytest.approx(0.0, abs=1e-6)
    assert m["pretrained"]["ret_fid"] == pytest.approx(fid(f, G.sample(30, seed=6), other.sample(30, seed=6)), rel=1e-9)
    # the retrained generator is judged like the others: the reference PUL and FID of the report
    assert m["retrained"]["n_undesired"] == n_o
    assert m["retrained"]["pul"] == m["methods"]["other"]["pul"]
    assert m["retrained"]["fid"] == pytest.approx(fid(f, other.sample(30, seed=6), real), rel=1e-9)
    without = evaluate(G, {}, ClassJudge(classifier, 1), real, n_bank=4, n_fid=4)
    assert without["pretrained"]["ret_fid"] is None and "retrained" not in without


def test_evaluations_that_share_the_pre_trained_side_measure_it_once_and_get_the_same_numbers(classifier, monkeypatch):
    """Two evaluations passing one `shared` dict (one class removed at two counts of marks): the
    second measures only its own model, without real images, and both equal evaluations alone."""
    from atu.eval import evaluate as evaluation

    G, first, second = _generator(0), _generator(1), _generator(2)
    real = torch.rand(30, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    sizes = dict(retrained=first, n_bank=40, n_fid=20, seed=5, class_shares=classifier)
    alone = [evaluate(G, {"m": m}, ClassJudge(classifier, 1), real, **sizes) for m in (first, second)]
    drawn = []
    counting = evaluation.generator_statistics
    monkeypatch.setattr(
        evaluation, "generator_statistics", lambda e, g, *a, **k: drawn.append(g) or counting(e, g, *a, **k)
    )
    shared = {}
    together = [
        evaluate(G, {"m": first}, ClassJudge(classifier, 1), real, shared=shared, **sizes),
        evaluate(G, {"m": second}, ClassJudge(classifier, 1), None, shared=shared, **sizes),
    ]
    assert [id(g) for g in drawn] == [id(first), id(G), id(first), id(second)]  # retrained, pre-trained, m, m
    for one, other in zip(together, alone):
        assert one["pretrained"] == other["pretrained"] and one["retrained"] == other["retrained"]
        assert one["methods"] == other["methods"]
    together[1]["pretrained"]["fid"] = -1.0  # a caller's edit stays its own
    assert shared["pretrained"]["fid"] == together[0]["pretrained"]["fid"] != -1.0


def test_kid_and_precision_recall_are_those_of_the_same_features_computed_directly(classifier):
    from atu.eval.kid_pr import kid, precision_recall

    G, other = _generator(0), _generator(1)
    real = torch.rand(100, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    m = evaluate(G, {"other": other}, ClassJudge(classifier, 1), real, n_bank=10, n_fid=70, seed=5)
    f = feature_fn(classifier)
    # the real reference set: a seeded subset of n_fid images (seed + 2); the fake: FID's samples (seed + 1)
    subset = real[torch.randperm(100, generator=torch.Generator().manual_seed(7))[:70]]
    real_rows = f(subset).double()
    for name, gen in (("pretrained", G), ("other", other)):
        fake_rows = f(gen.sample(70, seed=6)).double()
        got = m["pretrained"] if name == "pretrained" else m["methods"][name]
        mean, std = kid(real_rows, fake_rows, subsets=100, subset_size=1000, seed=5)
        precision, recall = precision_recall(real_rows, fake_rows, k=3)
        assert got["kid"] == pytest.approx(mean, rel=1e-6, abs=1e-12)
        assert got["kid_std"] == pytest.approx(std, rel=1e-6, abs=1e-12)
        assert (got["precision"], got["recall"]) == pytest.approx((100 * precision, 100 * recall))


def _saved_models(folder, classifier):
    """(generator file, classifier file) in `folder`: _generator(0) with a discriminator, `classifier`."""
    gen, clf = folder / "g.safetensors", folder / "c.safetensors"
    save_pretrained(gen, _generator(0), Discriminator(16, channels=narrow_channels(16, 4)))
    save_classifier(clf, classifier, {})
    return gen, clf


def test_the_command_line_judges_a_measured_feature(classifier, tmp_path, monkeypatch, capsys):
    from atu.classifiers.judges import MeasureJudge

    monkeypatch.setenv("ATU_CACHE", str(tmp_path / "cache"))
    gen, clf = _saved_models(tmp_path, classifier)
    out = tmp_path / "m.json"
    base = ["evaluate", "--gen", str(gen), "--classifier", str(clf), "--data", "digits", "--n-bank", "20"]
    base += ["--n-fid", "10", "--device", "cpu"]
    assert atu_main([*base, "--feature", "area:top50", "--filter", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    judge = MeasureJudge.over("area:top50", "digits", resolution=16)
    assert metrics["judge"] == judge.record() and "class" not in metrics
    assert metrics["pretrained"]["n_undesired"] == int(judge.holds(_generator(0).sample(20, seed=0)).sum())
    assert metrics["methods"]["filter"]["n_undesired"] == 0  # the filter drops what the measurement marks
    refusals = [
        (["--class", "1", "--feature", "area:top50"], "exactly one of --class C or --feature"),
        (["--feature", "area:top50", "--real-stats", str(out)], "statistics files leave out classes"),
        (["--feature", "area:top50", "--judge", str(clf)], "class 'area:top50' is not one of the classifier's"),
    ]
    for extra, message in refusals:
        assert atu_main([*base, *extra, "--out", str(tmp_path / "x.json")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_the_command_line_and_its_refusals(classifier, tmp_path, capsys):
    gen, clf = _saved_models(tmp_path, classifier)
    base = ["evaluate", "--gen", str(gen), "--classifier", str(clf), "--n-bank", "20", "--n-fid", "20"]
    out = tmp_path / "metrics.json"
    c = int(predict(classifier, _generator(0).sample(20, seed=0)).mode().values)  # a class G does make
    assert atu_main([*base, "--class", str(c), "--model", f"copy={gen}", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["class"] == c and metrics["methods"]["copy"]["ret_fid"] is None
    assert metrics["methods"]["copy"]["pul"] == 0.0
    assert "Ret-FID missing" in capsys.readouterr().out
    for cls, bad, message in [
        ("1", ["--model", "nonsense"], "--model 'nonsense': expected NAME=FILE"),
        ("8", [], "--class 8: the classifier knows classes 0..1"),
        ("1", ["--force", "--n-fid", "1"], "--n-fid"),
        ("1", ["--model", f"m={tmp_path / 'none.safetensors'}"], "--model m .*no such file"),
        ("1", ["--retrained", str(clf)], "--retrained .*c.safetensors"),
        ("1", ["--classifier", str(tmp_path / "none")], "--classifier .*no such file"),
    ]:
        assert atu_main([*base, "--class", cls, "--out", str(tmp_path / "new.json"), *bad]) == 2
        assert re.search(message, capsys.readouterr().err)
    assert atu_main([*base, "--class", "1", "--out", str(out)]) == 2
    assert re.search("--out .*metrics.json exists", capsys.readouterr().err)
    assert not (tmp_path / "new.json").exists()


# ---- FID in an Inception-v3 TorchScript network's features -----------------------------------------------


class _TinyFeatures(torch.nn.Module):
    """Stands in for Inception: NVlabs' calling convention (forward(x, return_features)), 0..255
    inputs, any resolution (it resizes itself), [N, D] features when return_features is set."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)
        self.head = torch.nn.Linear(6, 4)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x / 255.0, size=(24, 24), mode="bilinear", align_corners=False)
        features = torch.tanh(self.conv(x)).mean((2, 3)) * 3 + x.mean((1, 2, 3))[:, None]
        return features if return_features else self.head(features).softmax(1)


class _FourD(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture(scope="module")
def inception_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inception")
    good, bad_shape, not_script = root / "tiny.pt", root / "four_d.pt", root / "text.pt"
    torch.jit.script(_TinyFeatures()).save(str(good))
    torch.jit.script(_FourD()).save(str(bad_shape))
    not_script.write_text("not a TorchScript archive")
    return {"good": good, "four_d": bad_shape, "text": not_script}


def _oracle_fid(module, images_a, images_b):
    """Independent: the convention rewritten here, features straight from the module, Fréchet
    distance in numpy float64 with scipy's matrix square root."""

    def feats(x):
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        levels = torch.floor(torch.clamp(x * 127.5 + 128, 0, 255))
        with torch.no_grad():
            return module(levels, return_features=True).double().numpy()

    fa, fb = feats(images_a), feats(images_b)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(root))


def test_fid_in_a_torchscript_networks_features_equals_an_independent_float64_computation(classifier, inception_files):
    G, other = _generator(0), _generator(1)
    real = torch.rand(70, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    extractor = load_inception(inception_files["good"], resolution=16)
    assert extractor.record["kind"] == "inception" and len(extractor.record["sha256"]) == 64
    m = evaluate(
        G,
        {"other": other},
        ClassJudge(classifier, 1),
        real,
        retrained=other,
        n_bank=10,
        n_fid=40,
        seed=5,
        extractor=extractor,
    )
    module = torch.jit.load(str(inception_files["good"]))
    fake, fake_other = G.sample(40, seed=6), other.sample(40, seed=6)
    assert m["pretrained"]["fid"] == pytest.approx(_oracle_fid(module, fake, real), rel=1e-6)
    assert m["methods"]["other"]["fid"] == pytest.approx(_oracle_fid(module, fake_other, real), rel=1e-6)
    assert m["pretrained"]["ret_fid"] == pytest.approx(_oracle_fid(module, fake, fake_other), rel=1e-6)
    assert m["fid_features"] == extractor.record
    # the classifier's features are another space: another number
    assert evaluate(G, {}, ClassJudge(classifier, 1), real, n_bank=10, n_fid=40, seed=5)["pretrained"][
        "fid"
    ] != pytest.approx(m["pretrained"]["fid"], rel=1e-3)


def test_inception_input_is_uint8_levels_with_grey_repeated_to_three_channels():
    grey = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.0, 2.0]).view(1, 1, 1, 6)
    x = to_inception_input(grey)
    assert x.shape == (1, 3, 1, 6) and x.dtype == torch.float32
    assert x[0, 0, 0].tolist() == [0.0, 64.0, 128.0, 255.0, 255.0, 255.0] and torch.equal(x[0, 0], x[0, 2])


def test_the_command_line_records_the_extractor_and_refuses_bad_files_with_status_2(
    classifier, inception_files, tmp_path, capsys
):
    gen, clf = _saved_models(tmp_path, classifier)
    base = ["evaluate", "--gen", str(gen), "--classifier", str(clf), "--class", "1"]
    base += ["--n-bank", "8", "--n-fid", "8", "--device", "cpu"]
    out = tmp_path / "metrics.json"
    assert atu_main([*base, "--inception", str(inception_files["good"]), "--out", str(out)]) == 0
    record = json.loads(out.read_text())["fid_features"]
    assert record["kind"] == "inception" and record["file"] == str(inception_files["good"].resolve())
    assert record["sha256"] == hashlib.sha256(inception_files["good"].read_bytes()).hexdigest()
    assert atu_main([*base, "--out", str(tmp_path / "plain.json")]) == 0
    assert json.loads((tmp_path / "plain.json").read_text())["fid_features"] == {"kind": "classifier"}
    capsys.readouterr()
    for name, message in [
        ("four_d", r"--inception .*four_d.pt: expected float features \[N, D\].*\(2, 3, 16, 16\)"),
        ("text", "--inception .*text.pt: neither a TorchScript module nor a state dict"),
        ("missing", "--inception .*missing.pt: no such file"),
    ]:
        path = inception_files.get(name, tmp_path / f"{name}.pt")
        assert atu_main([*base, "--inception", str(path), "--out", str(tmp_path / "bad.json")]) == 2
        assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "bad.json").exists()


def test_the_installed_command_exits_with_status_2_on_bad_input(tmp_path):
    """The real process exit status (sys.exit(main())), not just main's return value."""
    script = "import sys; from atu.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        (
            [sys.executable, "-c", script, "evaluate", "--gen", str(tmp_path / "none.safetensors")]
            + ["--classifier", str(tmp_path / "c"), "--class", "0", "--out", str(tmp_path / "m.json")]
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the source tree's atu_ext
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(atu.__file__).parents[1])},
    )
    assert done.returncode == 2 and "--gen" in done.stderr and "no such file" in done.stderr
    assert not (tmp_path / "m.json").exists()


def test_too_few_samples_for_a_kth_neighbour_leave_precision_and_recall_missing(classifier):
    G = _generator(0)
    real = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    m = evaluate(G, {}, ClassJudge(classifier, 1), real, n_bank=4, n_fid=3)
    assert m["pretrained"]["precision"] is None and m["pretrained"]["recall"] is None
    assert m["pretrained"]["kid"] is not None
