"""`atu check-ops`: the self-check passes on this build, and fails, naming the row, when a kernel is wrong."""

import json
import os
import subprocess
import sys

import torch

import atu_ext
from atu.selfcheck import checks


def test_check_ops_quick_passes_on_cpu_and_covers_every_op_and_dtype(tmp_path):
    out = tmp_path / "check.json"
    run = subprocess.run(
        [sys.executable, "-m", "atu.cli", "check-ops", "--quick", "--device", "cpu", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checks passed" in run.stdout and "FAIL" not in run.stdout
    record = json.loads(out.read_text())
    rows = record["rows"]
    assert all(r["passed"] for r in rows)
    for op in ("penalties", "upfirdn2d", "bias_act", "modulated_conv2d"):
        for dtype in ("float32", "float64"):
            checked = [r for r in rows if r["op"] == op and r["dtype"] == dtype and r["error"] is not None]
            assert checked and all(r["error"] <= r["tolerance"] for r in checked), (op, dtype)
        kinds = {r["check"].split(" ")[0] for r in rows if r["op"] == op}
        assert {"opcheck", "gradgradcheck"} <= kinds, op
        assert any(r["speedup"] and r["speedup"] > 0 for r in rows if r["op"] == op), op
    assert any(r["check"] == "bitwise repeatable" and r["passed"] for r in rows)
    assert record["provenance"]["atu_ext"]["ops"] == "compiled"


def test_the_penalty_checks_fit_alpha_to_the_distance_they_check(monkeypatch):
    """The full check runs on the 17.4M-value generator, whose distance is thousands of times the quick
    set's: an α fixed for the quick set put exp(−α·d) below float32's range there, Repulsion refused
    it and the full check failed on every machine. The quick set, scaled 100× (distance 10⁴×), stands in."""
    quick_set = checks._penalty_tensors
    monkeypatch.setattr(checks, "_penalty_tensors", lambda *a, **k: [t * 100 for t in quick_set(*a, **k)])
    rows = list(checks.check_penalties(torch.device("cpu"), quick=True))
    assert any(r.check == "bitwise repeatable" for r in rows)
    assert [r for r in rows if not r.passed] == []


def test_a_wrong_kernel_fails_its_rows_and_the_command_exits_1(monkeypatch, capsys):
    real = atu_ext.upfirdn2d

    def off_by_a_little(x, f, **kwargs):  # what a broken kernel would return
        return real(x, f, **kwargs) * (1 + 1e-3)

    monkeypatch.setattr(atu_ext, "upfirdn2d", off_by_a_little)
    rows = list(checks.check_upfirdn2d(torch.device("cpu"), quick=True))
    value_rows = [r for r in rows if "value + grad" in r.check]
    assert value_rows and not any(r.passed for r in value_rows)
    assert all(r.error > r.tolerance for r in value_rows)

    from atu.cli import main

    assert main(["check-ops", "--quick", "--only", "upfirdn2d"]) == 1
    assert "FAILED: upfirdn2d" in capsys.readouterr().out


def test_a_check_that_raises_is_a_failed_row_with_the_message():
    def broken():
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    (row,) = checks._guarded("upfirdn2d", "float32", "up 2", broken)
    assert not row.passed and "no kernel image" in row.note


def test_bad_devices_are_usage_errors():
    from atu.cli import main

    assert main(["check-ops", "--quick", "--device", "tpu9"]) == 2
    if not torch.cuda.is_available():
        assert main(["check-ops", "--quick", "--device", "cuda"]) == 2
