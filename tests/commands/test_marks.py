"""The negatives-marked-against-quality curve (study/marks.py): which features make a curve, each
point's numbers from metrics.json, the report's tables and the charts."""

import json

import pytest

from atu.study.marks import marks_curves, marks_point, write_marks

PRE = {"pul": 0.0, "fid": 20.0, "recall": 0.5}


def _metrics(cls, marked: int | None, el2: dict, *, bank_negatives: int = 440, feature=None) -> dict:
    """A feature's metrics.json as the evaluation writes it: `marked` None for the whole bank's negatives."""
    feedback = {"n": 5000, "undesired": bank_negatives, "rule": "predicted class"}
    if marked is not None:
        feedback = {**feedback, "n": 5000 - bank_negatives + marked, "undesired": marked}
        feedback["negatives"] = {"n": marked, "within_first": 11 * marked, "left_out": bank_negatives - marked}
    return {
        "class": cls,
        **({"feature": feature} if feature else {}),
        "pretrained": PRE,
        "feedback": feedback,
        "methods": {"el2": {"seeds": [{"seed": 0}, {"seed": 1}], **el2}},
    }


EL2_AT_10 = {"pul": 90.0, "pul_std": 1.5, "pul_judge2": 85.0, "pul_judge2_std": 2.5, "fid": 30.0, "fid_std": 2.0}


def test_a_point_takes_the_lower_judge_with_its_spread_and_the_ratios_to_the_pretrained_model():
    point = marks_point(_metrics(8, 10, {**EL2_AT_10, "recall": 0.45, "recall_std": 0.05}))
    assert (point["negatives"], point["all"], point["seeds"]) == (10, False, 2)
    el2 = point["methods"]["el2"]
    assert el2["pul"] == {"mean": 85.0, "std": 2.5}  # judge 2 counted less removed: its number and spread
    assert el2["fid"] == {"mean": pytest.approx(1.5), "std": pytest.approx(0.1)}
    assert el2["recall"] == {"mean": pytest.approx(0.9), "std": pytest.approx(0.1)}
    everything = marks_point(_metrics(8, None, {"pul": 95.0, "pul_std": None, "fid": 25.0}))
    assert (everything["negatives"], everything["all"]) == (440, True)  # the whole bank's marks
    assert everything["methods"]["el2"]["pul"] == {"mean": 95.0, "std": None}  # one judge counted
    assert everything["methods"]["el2"]["recall"] == {"mean": None, "std": None}  # not measured


def test_only_a_subject_marked_at_several_counts_makes_a_curve_sorted_by_the_marks():
    thick = {"kind": "measure", "feature": "thickness:top10", "threshold": 4.09}
    curves = marks_curves(
        [
            _metrics(8, None, {"pul": 95.0}),
            _metrics(8, 10, {"pul": 80.0}),
            _metrics(8, 25, {"pul": 85.0}),
            _metrics(1, 10, {"pul": 99.0}),  # one count: no curve
            _metrics(None, 10, {"pul": 50.0}, feature=thick),
            _metrics(None, 50, {"pul": 60.0}, feature=thick),
        ]
    )
    assert list(curves) == ["class8", "thickness_top10"]
    assert curves["class8"]["subject"] == "class 8"
    assert [p["negatives"] for p in curves["class8"]["points"]] == [10, 25, 440]
    assert [p["methods"]["el2"]["pul"]["mean"] for p in curves["thickness_top10"]["points"]] == [50.0, 60.0]
    assert marks_curves([_metrics(8, 10, {"pul": 80.0}), _metrics(1, 25, {"pul": 85.0})]) == {}


def test_the_report_section_has_a_table_per_method_and_a_chart_per_measure(tmp_path):
    metrics = [
        _metrics(8, 10, {**EL2_AT_10, "recall": 0.45}),
        _metrics(8, None, {"pul": 95.0, "fid": 24.0, "recall": 0.5}),
    ]
    lines = write_marks(tmp_path, marks_curves(metrics))
    text = "\n".join(lines)
    assert "## Negatives marked against quality" in text and "### class 8: 10, 440 negatives marked" in text
    assert "| 10 | 85 ± 2.5 | 1.5 ± 0.1 | 0.9 |" in text
    assert "| 440 (all) | 95 | 1.2 | 1 |" in text
    for measure in ("pul", "fid", "recall"):
        assert (tmp_path / f"marks_class8_{measure}.png").is_file()
        assert f"(marks_class8_{measure}.png)" in text
    stored = json.loads((tmp_path / "marks.json").read_text())
    assert [p["negatives"] for p in stored["class8"]["points"]] == [10, 440]
    assert write_marks(tmp_path / "none", {}) == [] and not (tmp_path / "none").exists()
