"""What else an edit moved (study/shares.py): the expected shares after removing a class, the spread
of a share, which classes are flagged, and how metrics.json and the report carry them."""

import math

import pytest
import torch

from atu.study.evaluation import aggregate
from atu.study.report import class_share_section
from atu.study.shares import expected_shares, moved_classes, share_spread

TENTHS = [10.0] * 10


def test_removing_a_class_rescales_the_others_to_fill_its_room():
    expected = expected_shares(TENTHS, 8, 1.0)
    assert expected[8] == 1.0 and expected[0] == pytest.approx(10.0 * 99.0 / 90.0)
    assert math.fsum(expected) == pytest.approx(100.0)
    assert expected_shares(TENTHS, None, None) == TENTHS  # a measured feature, its draws without it not counted
    without = [12.0, 8.0] + [10.0] * 8  # the pre-trained model's samples without the feature
    assert expected_shares(TENTHS, None, None, without) == without


def test_the_spread_is_the_larger_of_seeds_and_sampling():
    sampling = 100 * math.sqrt(2 * 0.1 * 0.9 / 10_000)  # two banks of 10,000, p = 0.1
    assert share_spread(10.0, None, 10_000) == pytest.approx(sampling)
    assert share_spread(10.0, 0.2, 10_000) == pytest.approx(sampling)
    assert share_spread(10.0, 1.5, 10_000) == 1.5


def test_only_classes_that_moved_beyond_two_spreads_are_flagged():
    pre = {"class_shares": TENTHS}
    shares = [10.0 * 99 / 90] * 10
    shares[8], shares[3], shares[5] = 1.0, 14.0, 12.0  # 3 moved +3.0, 5 moved +1.0
    shares[0] = 100 - math.fsum(shares[1:])
    method = {"class_shares": shares, "class_shares_std": [0.6] * 10}
    flagged = moved_classes(method, pre, 8, 10_000)
    assert [m["class"] for m in flagged] == [0, 3]  # 0 gave up what 3 took; 5 moved less than 2 x 0.6
    assert flagged[1]["expected"] == pytest.approx(11.0) and flagged[1]["spread"] == 0.6
    assert moved_classes({**method, "class_shares_std": [0.4] * 10}, pre, 8, 10_000)[-1]["class"] == 5
    assert moved_classes({"pul": 90.0}, pre, 8, 10_000) == []  # no shares counted: nothing to flag


def test_the_seed_to_seed_deviation_of_each_share_is_kept_and_the_report_bolds_what_moved():
    per_seed = {
        seed: {"pul": 90.0, "fid": 10.0, "ret_fid": None, "n_undesired": 5, "class_shares": [60.0 + seed, 40.0 - seed]}
        for seed in (0, 1, 2)
    }
    m = aggregate(per_seed)
    assert m["class_shares"] == [61.0, 39.0] and m["class_shares_std"] == [1.0, 1.0]
    assert "class_shares_std" not in aggregate({0: per_seed[0]})
    m["moved_classes"] = [{"class": 1, "share": 39.0, "expected": 50.0, "spread": 1.0}]
    metrics = {
        "class": None,
        "n_bank": 100,
        "pretrained": {"class_shares": [50.0, 50.0]},
        "methods": {"el2": m},
    }
    lines = class_share_section(metrics)
    assert "| 0 | 50.0 | 61.0 |" in lines and "| 1 | 50.0 | **39.0** |" in lines
    assert any(line.startswith("Bold: a class whose share moved") for line in lines)


def test_the_evaluation_counts_each_class_among_the_samples_without_the_feature():
    """class_shares_without_feature: a recount of the same bank, by the classifier and the judge."""
    from atu.classifiers import LeNet, predict
    from atu.classifiers.judges import ClassJudge
    from atu.eval.evaluate import evaluate
    from atu.models import Generator, narrow_channels

    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()
    torch.manual_seed(1)
    digits = LeNet(num_classes=10, resolution=16).eval()
    torch.manual_seed(2)
    feature = ClassJudge(LeNet(num_classes=2, resolution=16).eval(), 1)
    real = G.sample(40, seed=9)
    metrics = evaluate(G, {}, feature, real, n_bank=60, n_fid=20, seed=3, extractor=None, class_shares=digits)
    bank = G.sample(60, seed=3)
    labels, holds = predict(digits, bank), feature.holds(bank)
    kept = labels[~holds]
    want = [100.0 * float((kept == c).sum()) / kept.numel() for c in range(10)]
    assert metrics["pretrained"]["class_shares_without_feature"] == pytest.approx(want)
    assert metrics["pretrained"]["class_shares"] == pytest.approx(
        [100.0 * float((labels == c).sum()) / 60 for c in range(10)]
    )
