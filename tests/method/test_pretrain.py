"""`atu pretrain` end to end on the bundled digits with a tiny model: outputs, exact resume (also
after Ctrl-C), and refusals that leave existing runs untouched."""

import json
import os
import signal

import pytest
import torch

from atu import checkpoint as ckpt
from atu.cli import main as atu_main
from atu.gan.pretrain import ModelConfig, PretrainConfig, pretrain
from atu.gan.run import Schedule
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig

TINY = dict(
    model=ModelConfig(size=16, style_dim=32, n_mlp=2, width=8),
    train=TrainConfig(batch_size=8, d_reg_every=2, g_reg_every=2),
)


def _config(steps: int, **kw) -> PretrainConfig:
    return PretrainConfig(**{"data": "digits", "steps": steps, "seed": 3, **TINY, **kw})


def _run(cfg, out, **kw):
    return pretrain(cfg, out, progress=False, schedule=Schedule(sample_every=2, checkpoint_every=2, log_every=1), **kw)


def _tensors(path):
    c = ckpt.load_atu(path)
    return {f"{s}/{k}": v for s, sd in c.state_dicts.items() for k, v in sd.items()}, c.metadata


def _assert_same_state(a, b):
    ta, ma = _tensors(a)
    tb, mb = _tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert ma["trainer"] == mb["trainer"] and ma["sampler"] == mb["sampler"]


def test_a_run_writes_its_model_samples_log_and_configuration(tmp_path):
    model = _run(_config(4, exclude_classes=[8]), tmp_path / "run")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["exclude_classes"] == [8]
    assert 8 not in run["data"]["label_counts"] and run["data"]["n_images"] == 1797 - 174
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all("r1" in r or "d_loss" in r for r in log)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    loaded = ckpt.load_atu(model)
    assert set(loaded.state_dicts) == {"g_ema", "d"} and loaded.metadata["step"] == 4
    from atu.models import Generator  # the file holds enough to rebuild the generator exactly

    g = Generator.from_config(loaded.config["generator"])
    g.load_state_dict(loaded.state_dicts["g_ema"], strict=True)
    img = g.sample(2, seed=0)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_resuming_continues_exactly_as_an_uninterrupted_run(tmp_path):
    _run(_config(6), tmp_path / "straight")
    _run(_config(3), tmp_path / "split")
    _run(_config(6), tmp_path / "split", resume=True)
    _assert_same_state(tmp_path / "straight" / "checkpoint.safetensors", tmp_path / "split" / "checkpoint.safetensors")


def _cut_run_step(tmp_path, monkeypatch, interrupting_step) -> int:
    """Runs 5 steps in tmp_path/cut with StyleGAN2Trainer.train_step replaced by
    `interrupting_step(real_step)` until it raises KeyboardInterrupt; the step of the checkpoint left."""
    real_step = StyleGAN2Trainer.train_step
    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(StyleGAN2Trainer, "train_step", interrupting_step(real_step))
        _run(_config(5), tmp_path / "cut")
    return ckpt.load_atu(tmp_path / "cut" / "checkpoint.safetensors").metadata["step"]


def _assert_resumes_as_an_uninterrupted_run(tmp_path):
    _run(_config(5), tmp_path / "cut", resume=True)
    _run(_config(5), tmp_path / "straight")
    _assert_same_state(tmp_path / "straight" / "checkpoint.safetensors", tmp_path / "cut" / "checkpoint.safetensors")


def test_ctrl_c_finishes_the_step_saves_and_the_run_resumes_exactly(tmp_path, monkeypatch):
    def ctrl_c_during_step_3(real_step):
        def step(self, real):
            if self.step == 2:
                os.kill(os.getpid(), signal.SIGINT)  # arrives mid-step, like a real Ctrl-C
            return real_step(self, real)

        return step

    # the step in progress finished; then its state was saved
    assert _cut_run_step(tmp_path, monkeypatch, ctrl_c_during_step_3) == 3
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    _assert_resumes_as_an_uninterrupted_run(tmp_path)


def test_a_second_ctrl_c_mid_step_saves_nothing_and_the_last_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    def twice_during_step_3(real_step):
        def step(self, real):
            if self.step != 2:
                return real_step(self, real)
            os.kill(os.getpid(), signal.SIGINT)  # the first: finish the step, then save
            with torch.no_grad():  # the step's first half: D is updated...
                for p in self.D.parameters():
                    p.add_(1.0)
            os.kill(os.getpid(), signal.SIGINT)  # ...when the second arrives: stop at once
            raise AssertionError("the second Ctrl-C did not interrupt the step")

        return step

    # the half-updated state was not saved: the checkpoint on disk is step 2's, taken every 2 steps
    assert _cut_run_step(tmp_path, monkeypatch, twice_during_step_3) == 2
    _assert_resumes_as_an_uninterrupted_run(tmp_path)


def test_refusals_leave_existing_runs_untouched(tmp_path):
    out = tmp_path / "run"
    _run(_config(2), out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="--resume"):
        _run(_config(2), out)
    with pytest.raises(ValueError, match="seed"):
        _run(_config(4, seed=4), out, resume=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        _run(_config(2), tmp_path / "empty", resume=True)
    with pytest.raises(ValueError, match="cannot exclude classes \\[12\\]"):
        _run(_config(2, exclude_classes=[12]), tmp_path / "bad")
    with pytest.raises(ValueError, match="unknown dataset"):
        _run(_config(2, data="imagenet"), tmp_path / "bad")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "empty").exists()


def test_the_command_line_trains_and_resumes(tmp_path, capsys):
    args = ["pretrain", "--out", str(tmp_path / "cli"), "--size", "16", "--style-dim", "32", "--n-mlp", "2"]
    args += ["--width", "8", "--batch", "8", "--sample-every", "1", "--checkpoint-every", "1"]
    assert atu_main([*args, "--steps", "2"]) == 0
    assert atu_main([*args, "--steps", "4", "--resume"]) == 0
    assert ckpt.load_atu(tmp_path / "cli" / "model.safetensors").metadata["step"] == 4
    assert "model.safetensors" in capsys.readouterr().out


def test_the_discriminator_can_have_its_own_width(tmp_path):
    wide_d = ModelConfig(size=16, style_dim=32, n_mlp=2, width=8, d_width=16)
    model = _run(_config(2, model=wide_d), tmp_path / "run")
    loaded = ckpt.load(model)
    G, D = loaded.generator(), loaded.discriminator()
    # every resolution of these 16 px models is `width` wide (narrow_channels)
    assert {
        m.weight.shape[0] for m in D.modules() if getattr(m, "weight", None) is not None and m.weight.dim() == 4
    } == {16}
    assert G.input.input.shape[1] == 8
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["model"]["d_width"] == 16
    # without d_width the configuration is what it was before the option existed (old runs resume)
    assert "d_width" not in _config(2).to_dict()["model"]


@pytest.mark.parametrize("field", ["width", "d_width"])
def test_model_widths_are_checked(field):
    with pytest.raises(ValueError, match=f"{field} must be a whole number of channels"):
        ModelConfig(**{field: 0})


def test_the_command_line_names_bad_options_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "cli"
    assert atu_main(["pretrain", "--out", str(out), "--size", "16", "--width", "8", "--d-width", "-4"]) == 2
    assert "d_width must be a whole number of channels >= 1, got -4" in capsys.readouterr().err
    assert atu_main(["pretrain", "--out", str(out), "--size", "16", "--width", "8", "--exclude-classes", "12"]) == 2
    assert "cannot exclude classes [12]" in capsys.readouterr().err
    assert not out.exists()


def test_grids_are_drawn_in_chunks_that_fit_any_resolution():
    from atu.gan.run import grid_layout
    from atu.models import Generator

    with torch.device("meta"):
        mnist = Generator(32, style_dim=128, n_mlp=8, channels=dict.fromkeys((4, 8, 16, 32), 48))
        rosinality = {size: Generator(size, 512, 8, channel_multiplier=2) for size in (64, 256, 1024)}
    # (images, per forward pass, scale): 64 tiles at 2x up to 64 px, 16 at 1024 px; a narrow model's
    # grid in one pass, a full-width one in passes of one image's worth of memory
    assert grid_layout(mnist) == (64, 64, 2)
    assert grid_layout(rosinality[64]) == (64, 4, 2)
    assert grid_layout(rosinality[256]) == (64, 1, 1) and grid_layout(rosinality[1024]) == (16, 1, 1)


def test_a_chunked_grid_is_the_grid_drawn_at_once(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from atu.gan import run as run_module

    _run(_config(2), tmp_path / "whole")
    with torch.device("meta"):
        per_image = TINY["model"].build()[0].bytes_per_image()
    monkeypatch.setattr(run_module, "GRID_PASS_BYTES", 3 * per_image)  # three images per forward pass
    _run(_config(2), tmp_path / "chunked")
    whole, chunked = (
        np.asarray(Image.open(tmp_path / name / "samples" / "step_000002.png"), dtype=int)
        for name in ("whole", "chunked")
    )
    assert whole.shape == chunked.shape
    assert np.abs(whole - chunked).max() <= 1  # batching rounds, nothing more


def test_the_model_is_written_before_the_final_grid_and_grids_can_be_switched_off(tmp_path, monkeypatch):
    """Before: at 1024 px the final grid ran out of memory first and model.safetensors was never written."""
    from atu.gan.run import TrainingRun

    def out_of_memory(self):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(TrainingRun, "save_samples", out_of_memory)
    with pytest.raises(RuntimeError, match="can't allocate"):
        pretrain(
            _config(2), tmp_path / "run", progress=False, schedule=Schedule(sample_every=100, checkpoint_every=100)
        )
    assert ckpt.load_atu(tmp_path / "run" / "model.safetensors").metadata["step"] == 2
    monkeypatch.undo()
    pretrain(_config(2), tmp_path / "none", progress=False, schedule=Schedule(sample_every=0, checkpoint_every=100))
    assert (tmp_path / "none" / "model.safetensors").is_file() and not (tmp_path / "none" / "samples").exists()
