"""The output filter (eval/filtering.py) and the second judge of `atu evaluate`: the filter's samples
against G's own stream with the marked ones left out, its rejected share counted directly, and every
second-judge number against counts made by hand."""

import json

import pytest
import torch

from atu.classifiers import LeNet, predict, save_classifier
from atu.classifiers.judges import ClassJudge
from atu.cli import main as atu_main
from atu.eval.evaluate import evaluate
from atu.eval.filtering import FilteredSampler
from atu.models import Discriminator, Generator, narrow_channels
from atu.study.tradeoff import judged_pul, judged_pul_std, recommendation
from tiny_gans import save_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _generator(seed):
    torch.manual_seed(seed)
    return Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()


def _classifier(seed, G):
    """A 2-class LeNet (random features of `seed`) whose class 1 takes about half of G's samples: its
    class-1 bias sits at the median of its class-1 score on 400 of them (seed 99)."""
    torch.manual_seed(seed)
    model = LeNet(num_classes=2, resolution=16).eval()
    with torch.no_grad():
        model.head.weight[0].zero_()
        model.head.bias.zero_()
        score = model(G.sample(400, seed=99))[:, 1]
        model.head.bias[1] = -score.median()
    return model


def _marking_class(classifier, G, n=200):
    """Class 1, after checking that the classifier gives it to some but not all of G's samples (so the
    filter both keeps and rejects)."""
    share = (predict(classifier, G.sample(n, seed=0)) == 1).float().mean()
    assert 0.1 < share < 0.9, f"the test's classifier puts {share:.0%} of G's samples in class 1"
    return 1


def test_the_filter_is_gs_stream_without_the_marked_samples_at_any_batch_size():
    G = _generator(0)
    classifier = _classifier(3, G)
    c = _marking_class(classifier, G)
    raw = G.sample(400, seed=7)
    kept = raw[predict(classifier, raw) != c]
    f = FilteredSampler(G, classifier, c)
    for batch in (1, 8, 64):
        got = torch.cat([images for _, images, _ in f.iter_samples(50, seed=7, batch_size=batch)])
        assert got.shape[0] == 50
        torch.testing.assert_close(got, kept[:50], rtol=0, atol=1e-5)
        assert bool((predict(classifier, got) != c).all())
        # drawn: whole raw batches until 50 were kept; kept: every unmarked one among them
        drawn, n_kept = f.last_draw["drawn"], f.last_draw["kept"]
        assert n_kept == int((predict(classifier, raw[:drawn]) != c).sum()) and n_kept >= 50
        assert drawn % batch == 0 and int((predict(classifier, raw[: drawn - batch]) != c).sum()) < 50
    # sharded: the processes' batches together are the unsharded stream
    parts = [list(f.iter_samples(20, seed=7, batch_size=4, shard=(i, 3))) for i in range(3)]
    order = [parts[b % 3][b // 3][1] for b in range(5)]
    torch.testing.assert_close(torch.cat(order), kept[:20], rtol=0, atol=1e-5)


def test_a_labeller_that_marks_everything_is_refused_not_waited_on():
    G = _generator(0)
    classifier = _classifier(3, G)
    with torch.no_grad():
        classifier.head.bias.copy_(torch.tensor([-1e4, 1e4]))
    with pytest.raises(RuntimeError, match="marks nearly every sample"):
        list(FilteredSampler(G, classifier, 1).iter_samples(2, batch_size=64))


def test_evaluate_counts_the_second_judge_and_the_filters_rejected_share():
    G, other = _generator(0), _generator(1)
    labeller, judge = _classifier(3, G), _classifier(4, G)
    c = _marking_class(labeller, G)
    real = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    filtered = FilteredSampler(G, labeller, c)
    m = evaluate(
        G,
        {"other": other, "filter": filtered},
        ClassJudge(labeller, c),
        real,
        n_bank=60,
        n_fid=20,
        seed=5,
        second_judge=ClassJudge(judge, c),
    )
    count = lambda clf, images: int((predict(clf, images) == c).sum())  # noqa: E731
    for name, gen in (("pretrained", G), ("other", other)):
        got = m["pretrained"] if name == "pretrained" else m["methods"][name]
        bank = gen.sample(60, seed=5)
        assert got["n_undesired"] == count(labeller, bank) and got["n_undesired_judge2"] == count(judge, bank)
        assert got["feature_ratio_judge2"] == pytest.approx(100 * count(judge, bank) / 60)
    n2, o2 = m["pretrained"]["n_undesired_judge2"], m["methods"]["other"]["n_undesired_judge2"]
    assert m["methods"]["other"]["pul_judge2"] == (pytest.approx(100 * (n2 - o2) / n2) if n2 else None)
    fm = m["methods"]["filter"]
    assert fm["n_undesired"] == 0 and (fm["pul"] == 100.0 or m["pretrained"]["n_undesired"] == 0)
    bank = torch.cat(
        [images for _, images, _ in FilteredSampler(G, labeller, c).iter_samples(60, seed=5, batch_size=256)]
    )
    assert fm["n_undesired_judge2"] == count(judge, bank)
    # the rejected share over the PUL bank's draws: 256-sample raw batches until 60 are kept
    raw = G.sample(256 * 8, seed=5)
    marked = predict(labeller, raw) == c
    batches = next(b for b in range(1, 9) if int((~marked[: 256 * b]).sum()) >= 60)
    assert fm["rejected"] == pytest.approx(100 * float(marked[: 256 * batches].float().mean()))
    assert "n_undesired_judge2" not in evaluate(G, {}, ClassJudge(labeller, c), real, n_bank=4, n_fid=4)["pretrained"]


def test_the_command_line_judges_twice_and_filters(tmp_path, capsys):
    G = _generator(0)
    D = Discriminator(16, channels=narrow_channels(16, 4))
    gen = tmp_path / "g.safetensors"
    save_pretrained(gen, G, D)
    labeller, judge = _classifier(3, G), _classifier(4, G)
    c = _marking_class(labeller, G)
    files = {
        name: save_classifier(tmp_path / f"{name}.safetensors", clf, {})
        for name, clf in (("labeller", labeller), ("judge", judge))
    }
    base = ["evaluate", "--gen", str(gen), "--classifier", str(files["labeller"]), "--class", str(c), "--n-bank"] + [
        "30",
        "--n-fid",
        "20",
    ]
    out = tmp_path / "metrics.json"
    assert atu_main([*base, "--judge", str(files["judge"]), "--filter", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["methods"]["filter"]["n_undesired"] == 0 and "rejected" in metrics["methods"]["filter"]
    assert metrics["inputs"]["judge"]["sha256"] and "judge 2" in capsys.readouterr().out
    three = tmp_path / "three.safetensors"
    torch.manual_seed(0)
    save_classifier(three, LeNet(num_classes=3, resolution=16), {})
    assert atu_main([*base, "--judge", str(three), "--out", str(tmp_path / "x.json")]) == 2
    assert "the second judge must judge the same classes" in capsys.readouterr().err
    assert atu_main([*base, "--filter", "--model", f"filter={gen}", "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def test_the_recommendation_is_the_best_pul_under_both_judges_within_the_fid_bound():
    metrics = {
        "pretrained": {"fid": 10.0},
        "methods": {
            "el2": {"pul": 90.0, "pul_judge2": 88.0, "fid": 14.0},
            "redact": {"pul": 99.0, "pul_judge2": 80.0, "fid": 12.0},  # fools the labeller only
            "el2+redact": {"pul": 95.0, "pul_judge2": 93.0, "fid": 16.0},  # beyond 1.5x
            "filter": {"pul": 100.0, "pul_judge2": 99.0, "fid": 10.5},
        },
    }  # a reference, never recommended
    assert judged_pul(metrics["methods"]["redact"]) == 80.0
    spread = {"pul_std": 1.0, "pul_judge2_std": 4.0}
    assert judged_pul_std({"pul": 99.0, "pul_judge2": 80.0, **spread}) == 4.0  # the judge ranked by
    assert judged_pul_std({"pul": 79.0, "pul_judge2": 80.0, **spread}) == 1.0
    best, why = recommendation(metrics)
    assert best == "el2" and "both judges" in why and "88.0%" in why
    metrics["methods"]["el2"]["fid"] = 15.5
    metrics["methods"]["redact"]["fid"] = 15.01
    assert recommendation(metrics)[0] is None


def test_a_method_that_loses_coverage_is_not_recommended():
    """Recall below 0.9x the pre-trained model's rules a method out however good its PUL and FID."""
    metrics = {
        "pretrained": {"fid": 10.0, "recall": 50.0},
        "methods": {
            "el2": {"pul": 95.0, "fid": 12.0, "recall": 40.0},  # 0.8x: lost a fifth of the coverage
            "redact": {"pul": 90.0, "fid": 13.0, "recall": 45.0},  # exactly 0.9x
            "adv_only": {"pul": 99.0, "fid": 16.0, "recall": 50.0},  # beyond the FID bound
        },
    }
    best, why = recommendation(metrics)
    assert best == "redact" and "recall 45.0% ≥ 0.9× the pre-trained model's" in why
    metrics["methods"]["redact"]["recall"] = 44.9
    best, why = recommendation(metrics)
    assert best is None and "kept recall at 0.9× the pre-trained model's (45.0%)" in why and "el2" in why
    del metrics["pretrained"]["recall"]  # studies from before recall was measured: FID and PUL decide
    assert recommendation(metrics)[0] == "el2" and "recall not measured" in recommendation(metrics)[1]


def test_the_python_apis_filter_is_the_studys():
    import atu

    G = _generator(0)
    classifier = _classifier(3, G)
    c = _marking_class(classifier, G)
    ours = atu.filter(G, classifier, c)
    theirs = FilteredSampler(G, classifier, c)
    got = torch.cat([images for _, images, _ in ours.iter_samples(30, seed=7, batch_size=16)])
    want = torch.cat([images for _, images, _ in theirs.iter_samples(30, seed=7, batch_size=16)])
    assert torch.equal(got, want) and bool((predict(classifier, got) != c).all())
    with pytest.raises(ValueError, match=r"atu.filter\(G, judge, undesired\)"):
        atu.unlearn(G, None, None, method="filter")
