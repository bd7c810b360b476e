"""Measured features (atu/data/features.py): `MEASURE:topP|bottomP` parsing and refusals, thresholds
against numpy's percentiles, the cached measurements, and data without a feature for the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atu.cli import main as atu_main
from atu.data import features, load_dataset
from atu.data.features import MeasuredFeature
from atu.data.morphometrics import MEASURES, measure


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("thickness:top10", ("thickness", "top", 10.0)),
        ("thickness:bottom5", ("thickness", "bottom", 5.0)),
        ("area:top20", ("area", "top", 20.0)),
        (" slant:top2.5 ", ("slant", "top", 2.5)),
        ("length:bottom50", ("length", "bottom", 50.0)),
    ],
)
def test_a_feature_is_named_measure_side_percent(spec, parsed):
    feature = MeasuredFeature.parse(spec)
    assert (feature.measure, feature.side, feature.percent) == parsed
    assert MeasuredFeature.parse(feature.name) == feature


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("thick:top10", r"unknown measure 'thick'"),
        ("thickness:top0", r"\(0, 50\], got 0"),
        ("thickness:top60", r"\(0, 50\], got 60"),
        ("thickness:middle10", r"MEASURE:topP or MEASURE:bottomP"),
        ("thickness", r"MEASURE:topP or MEASURE:bottomP"),
        ("thickness:top-5", r"MEASURE:topP or MEASURE:bottomP"),
    ],
)
def test_a_bad_feature_is_refused_naming_what_is_wrong(spec, complaint):
    with pytest.raises(ValueError, match=complaint):
        MeasuredFeature.parse(spec)


def test_the_threshold_is_the_percentile_and_the_feature_holds_beyond_it():
    values = torch.from_numpy(np.random.default_rng(0).normal(size=1001))
    top = MeasuredFeature.parse("area:top10")
    bottom = MeasuredFeature.parse("area:bottom5")
    assert top.threshold(values) == pytest.approx(np.percentile(values.numpy(), 90), abs=1e-12)
    assert bottom.threshold(values) == pytest.approx(np.percentile(values.numpy(), 5), abs=1e-12)
    # 1,001 values: the 90th percentile is the 901st smallest, so 101 lie at or above it
    assert int(top.holds(values, top.threshold(values)).sum()) == 101
    assert int(bottom.holds(values, bottom.threshold(values)).sum()) == 51


def test_dataset_measurements_are_measure_of_each_image_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ATU_CACHE", str(tmp_path))
    data = load_dataset("digits", resolution=16, exclude_classes=list(range(2, 10)))  # 360 digits
    values = features.dataset_measurements(data, processes=2)
    direct = measure(data.images())
    for name in MEASURES:
        assert torch.equal(values[name], direct[name]), name
    assert len(list((tmp_path / "morphometrics").glob("*.pt"))) == 1

    def must_not_measure(*args, **kwargs):
        raise AssertionError("measured again instead of reading the cache")

    monkeypatch.setattr(features, "measure_all", must_not_measure)
    again = features.dataset_measurements(data)
    assert all(torch.equal(again[name], values[name]) for name in MEASURES)
    other = load_dataset("digits", resolution=16, exclude_classes=list(range(3, 10)))  # other images: not cached
    with pytest.raises(AssertionError, match="measured again"):
        features.dataset_measurements(other)


def test_excluding_a_feature_drops_its_images_and_records_the_threshold(tmp_path, monkeypatch):
    monkeypatch.setenv("ATU_CACHE", str(tmp_path))
    data = load_dataset("digits", resolution=16, exclude_classes=list(range(2, 10)))
    kept = load_dataset("digits", resolution=16, exclude_classes=list(range(2, 10)), exclude_feature="thickness:top10")
    thickness = features.dataset_measurements(data)["thickness"]
    threshold = float(np.percentile(thickness.numpy(), 90))
    info = kept.describe()["excluded_feature"]
    assert info["feature"] == "thickness:top10" and info["threshold"] == pytest.approx(threshold, abs=1e-12)
    dropped = set(data.indices[thickness >= threshold].tolist())
    assert info["n_excluded"] == len(dropped) == 36 and len(kept) == 360 - 36
    assert set(kept.indices.tolist()) == set(data.indices.tolist()) - dropped


def test_atu_pretrain_refuses_a_bad_feature_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        atu_main(["pretrain", "--data", "digits", "--exclude-feature", "thickness:top70", "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2
    assert "(0, 50], got 70" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
