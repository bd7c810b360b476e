"""The memory model of the stages (atu/stages/memory.py) against the peaks the kernel measures of
`atu adapt` and `atu unlearn` processes, and the study's rule for processes side by side."""

import sys

import pytest
import torch

from atu import checkpoint as ckpt
from atu.checkpoint import save_rosinality
from atu.cli import main as atu_main
from atu.gan.trainer import TrainConfig
from atu.models import Discriminator, Generator
from atu.stages import unlearn as unlearn_module
from atu.stages.memory import sizes, stage_peak_bytes
from atu.stages.unlearn import UnlearnConfig
from atu.study.runner import processes_that_fit
from atu.util.memory import run_measuring_peak

TOLERANCE = 0.2  # the bound: the model within 20% of a measured peak


def _peak_bytes(command: list[str], log) -> int:
    status, peak = run_measuring_peak(command, log)
    assert status == 0, log.read_text()[-2000:]
    return peak


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peaks read as Linux reports them")
def test_the_model_predicts_the_measured_peaks_of_both_stages_within_20_percent(tmp_path):
    """A configuration the coefficients were not fitted on (64 px, style 256, half of rosinality's
    widths): one step of each stage, which applies R1 and the path length and writes every file."""
    torch.manual_seed(0)
    channels = {4: 256, 8: 256, 16: 256, 32: 256, 64: 128}
    G, D = Generator(64, style_dim=256, n_mlp=4, channels=channels), Discriminator(64, channels=channels)
    gen = save_rosinality(tmp_path / "g.pt", g=G, g_ema=G, d=D)
    (tmp_path / "marks.txt").write_text("0\n3\n")
    fb = tmp_path / "fb.safetensors"
    marks = ["--marks", str(tmp_path / "marks.txt")]
    assert atu_main(["feedback", "--gen", str(gen), "--n", "8", *marks, "--device", "cpu", "--out", str(fb)]) == 0
    atu = [sys.executable, "-m", "atu.cli"]
    common = ["--gen", str(gen), "--feedback", str(fb), "--steps", "1", "--batch", "4", "--device", "cpu"]
    adapt = [*atu, "adapt", *common, "--k", "2", "--fisher-samples", "2", "--out", str(tmp_path / "adapt")]
    unlearn = [*atu, "unlearn", *common, "--adapted", str(tmp_path / "adapt"), "--out", str(tmp_path / "unlearn")]
    for stage, command in (("adapt", adapt), ("unlearn", unlearn)):
        measured = _peak_bytes(command, tmp_path / f"{stage}.log")
        predicted = stage_peak_bytes(G, D, 4, stage, k=2)
        print(f"{stage}: predicted {predicted / 2**30:.3f} GiB, measured {measured / 2**30:.3f} GiB")
        assert abs(predicted / measured - 1) <= TOLERANCE, (stage, predicted / 2**30, measured / 2**30)


def test_the_sizes_count_parameters_and_feature_maps():
    with torch.device("meta"):
        G, D = Generator(8, style_dim=4, n_mlp=1, channels={4: 3, 8: 2}), Discriminator(8, channels={4: 3, 8: 2})
    s = sizes(G, D)
    assert s.generator == sum(p.numel() for p in G.parameters())
    assert s.static == s.generator + sum(p.numel() for p in D.parameters())
    assert s.activations == 2 * (3 * 4 * 4 + 2 * 8 * 8)  # one map per resolution, in G and in D


def test_stage_2_adds_one_generator_per_adapted_model():
    with torch.device("meta"):
        G, D = Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1), Discriminator(32, 1)
    one, three = (stage_peak_bytes(G, D, 4, "unlearn", k=k) for k in (1, 3))
    assert three - one == pytest.approx(2 * 4 * sizes(G, D).generator, abs=4)
    with pytest.raises(ValueError, match="stage must be one of"):
        stage_peak_bytes(G, D, 4, "fisher")


@pytest.mark.parametrize(
    "wanted, need, free, expected",
    [
        (2, 10, 25, 2),  # both fit
        (2, 10, 15, 1),  # one at a time
        (4, 10, 35, 3),  # as many as fit
        (2, 10, 5, 1),  # not even one fits: one still runs (the stage needs it)
        (2, 10, None, 2),  # free memory unknown: as asked
        (1, 10, 5, 1),
    ],
)
def test_processes_side_by_side_are_as_many_as_the_free_memory_holds(wanted, need, free, expected):
    assert processes_that_fit(wanted, need, free) == expected


def test_a_cpu_run_predicted_to_exceed_the_free_memory_says_so_before_any_work(tmp_path, monkeypatch, capsys):
    from atu.stages import memory
    from tiny_gans import stage_inputs

    inputs = stage_inputs(tmp_path / "inputs")
    G, D = ckpt.load(inputs.gen).generator(), ckpt.load(inputs.gen).discriminator()
    need = stage_peak_bytes(G, D, 4, "unlearn", k=len(inputs.adapted))
    monkeypatch.setattr(memory, "available_bytes", lambda device: need // 2)
    fail = RuntimeError("stopped after the check")
    monkeypatch.setattr(unlearn_module, "load_feedback_images", lambda *a, **k: (_ for _ in ()).throw(fail))
    cfg = UnlearnConfig(steps=1, train=TrainConfig(batch_size=4))
    with pytest.raises(RuntimeError, match="stopped after the check"):
        unlearn_module.unlearn(inputs.gen, inputs.adapted, inputs.feedback, tmp_path / "run", cfg, progress=False)
    err = capsys.readouterr().err
    assert f"at batch 4 this run needs about {memory.gib(need)} at its peak and {memory.gib(need // 2)} is free" in err
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * need)
    with pytest.raises(RuntimeError, match="stopped after the check"):
        unlearn_module.unlearn(inputs.gen, inputs.adapted, inputs.feedback, tmp_path / "run2", cfg, progress=False)
    assert "needs about" not in capsys.readouterr().err
