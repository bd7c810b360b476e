"""Judges (atu/classifiers/judges.py): a classifier's class and a measured feature decide which images
hold the feature, as the classifier's predictions and the morphometrics say directly; evaluate()
counts PUL and the feature ratio by either."""

from __future__ import annotations

import pytest
import torch

from atu.classifiers import LeNet, predict, predict_proba
from atu.classifiers.judges import ClassJudge, MeasureJudge
from atu.data import load_dataset
from atu.data.features import MeasuredFeature, dataset_measurements
from atu.data.morphometrics import measure
from atu.eval.evaluate import evaluate
from atu.eval.extractors import classifier_extractor
from atu.models import Generator, narrow_channels

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", resolution=16, exclude_classes=list(range(3, 10)))  # 537 digits


def test_a_class_judge_marks_the_predicted_class_or_a_probability_beyond_its_threshold(digits):
    torch.manual_seed(0)
    classifier = LeNet(num_classes=3, resolution=16).eval()
    classifier.metadata = {"label_names": ["zero", "one", "two"]}
    images = digits.images(range(0, 537, 9))
    judge = ClassJudge.of(classifier, "one")
    assert judge.undesired == 1 and judge.name == "one"
    assert torch.equal(judge.holds(images), predict(classifier, images) == 1)
    cautious = ClassJudge(classifier, 1, threshold=0.3)
    assert torch.equal(cautious.holds(images), predict_proba(classifier, images)[:, 1] >= 0.3)
    assert cautious.record() == {"kind": "class", "class": 1, "label": "one", "threshold": 0.3, "classifier": None}
    with pytest.raises(ValueError, match="not one of the classifier's 3 classes"):
        ClassJudge.of(classifier, "three")


def test_a_measure_judge_takes_its_threshold_over_the_data_and_marks_beyond_it(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("ATU_CACHE", str(tmp_path))
    judge = MeasureJudge.over("thickness:top10", "digits", resolution=16)
    thickness = dataset_measurements(load_dataset("digits", resolution=16))["thickness"]
    assert judge.threshold == pytest.approx(float(thickness.quantile(0.9)), abs=1e-12)
    assert judge.name == "thickness:top10"
    assert judge.record() == {
        "kind": "measure",
        "feature": "thickness:top10",
        "threshold": judge.threshold,
        "data": "digits",
        "resolution": 16,
        "n": 1797,
    }
    images = digits.images(range(0, 537, 3))
    direct = measure(images)["thickness"] >= judge.threshold
    assert torch.equal(judge.holds(images), direct) and 0 < int(direct.sum()) < len(direct)
    thin = MeasureJudge(MeasuredFeature.parse("thickness:bottom10"), judge.threshold)
    assert torch.equal(thin.holds(images), ~direct | (measure(images)["thickness"] == judge.threshold))


def test_evaluate_counts_pul_by_a_measured_feature_and_needs_features_for_fid(tmp_path, monkeypatch):
    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()
    torch.manual_seed(1)
    other = Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()
    # a threshold in the middle of G's own samples, so both counts lie strictly between 0 and n
    area = MeasuredFeature.parse("area:top20")
    judge = MeasureJudge(area, float(measure(G.sample(40, seed=5))["area"].median()))
    real = torch.rand(30, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with pytest.raises(ValueError, match="no feature space for FID: pass extractor="):
        evaluate(G, {}, judge, real, n_bank=40, n_fid=20)
    extractor = classifier_extractor(LeNet(num_classes=10, resolution=16).eval())
    m = evaluate(G, {"other": other}, judge, real, n_bank=40, n_fid=20, seed=5, extractor=extractor)
    n_g = int(judge.holds(G.sample(40, seed=5)).sum())
    n_o = int(judge.holds(other.sample(40, seed=5)).sum())
    assert m["pretrained"]["n_undesired"] == n_g and m["methods"]["other"]["n_undesired"] == n_o
    assert m["methods"]["other"]["pul"] == pytest.approx(100 * (n_g - n_o) / n_g)
    assert m["judge"]["kind"] == "measure" and "class" not in m
