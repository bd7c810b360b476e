"""What atu writes, it can verify: a run's checkpoint, a feedback bundle or a model changed after atu
wrote it is refused (the sha256 of its tensors is stored beside them), and --resume refuses a state
written by another run or stage, naming both, before anything in the folder changes."""

import json
import shutil
import zipfile

import pytest
import torch

from atu import checkpoint as ckpt
from atu.cli import main as atu_main
from atu.gan.run import Schedule
from atu.stages.adapt import AdaptConfig, adapt
from atu.stages.unlearn import UnlearnConfig, unlearn
from tiny_gans import TRAIN

EVERY_STEP = Schedule(log_every=1, sample_every=100, checkpoint_every=1)

pytestmark = pytest.mark.usefixtures("one_thread")


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _flip_a_tensor_byte(path):
    """One bit of the tensor data (past safetensors' 8-byte length and JSON header) flipped."""
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    data[start + (len(data) - start) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _unlearn(inputs, out, steps, resume=False):
    return unlearn(
        inputs.gen,
        inputs.adapted,
        inputs.feedback,
        out,
        UnlearnConfig(steps=steps, train=TRAIN, seed=1),
        resume=resume,
        schedule=EVERY_STEP,
        progress=False,
    )


def test_resume_refuses_a_state_from_another_stage_or_run_naming_both(inputs, tmp_path):
    cfg = AdaptConfig(k=1, steps=2, fisher_samples=2, train=TRAIN)
    adapt(inputs.gen, inputs.feedback, tmp_path / "adapt", cfg, schedule=EVERY_STEP, progress=False)
    _unlearn(inputs, tmp_path / "a", 2)
    _unlearn(inputs, tmp_path / "b", 2)
    run_a = json.loads((tmp_path / "a" / "run.json").read_text())["run_id"]
    run_b = json.loads((tmp_path / "b" / "run.json").read_text())["run_id"]
    assert run_a != run_b and ckpt.load_atu(tmp_path / "a" / "checkpoint.safetensors").metadata["written_by"] == {
        "stage": "unlearn",
        "run_id": run_a,
    }

    shutil.copy(tmp_path / "adapt" / "model_0" / "checkpoint.safetensors", tmp_path / "a" / "checkpoint.safetensors")
    before = _files(tmp_path / "a")
    with pytest.raises(
        ckpt.CheckpointError,
        match=r"written by another run \(stage 'adapt', run [0-9a-f]{32}\) than "
        rf"this folder's \(stage 'unlearn', run {run_a}",
    ):
        _unlearn(inputs, tmp_path / "a", 4, resume=True)
    assert _files(tmp_path / "a") == before

    shutil.copy(tmp_path / "b" / "checkpoint.safetensors", tmp_path / "a" / "checkpoint.safetensors")
    with pytest.raises(
        ckpt.CheckpointError,
        match=f"stage 'unlearn', run {run_b}\\) than this folder's \\(stage 'unlearn', run {run_a}",
    ):
        _unlearn(inputs, tmp_path / "a", 4, resume=True)

    _unlearn(inputs, tmp_path / "b", 3, resume=True)  # its own state resumes
    assert ckpt.load_atu(tmp_path / "b" / "checkpoint.safetensors").metadata["step"] == 3


def test_a_changed_byte_in_a_state_bundle_or_model_is_refused(inputs, tmp_path, capsys):
    _unlearn(inputs, tmp_path / "run", 2)
    state = tmp_path / "run" / "checkpoint.safetensors"
    _flip_a_tensor_byte(state)
    with pytest.raises(ckpt.CheckpointError, match="do not match the sha256 atu wrote with them"):
        _unlearn(inputs, tmp_path / "run", 3, resume=True)

    bundle = tmp_path / "feedback.safetensors"
    shutil.copy(inputs.feedback, bundle)
    _flip_a_tensor_byte(bundle)
    assert (
        atu_main(
            ["unlearn", "--gen", str(inputs.gen), "--adapted", *map(str, inputs.adapted), "--feedback"]
            + [str(bundle), "--steps", "1", "--device", "cpu", "--out", str(tmp_path / "bad")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "do not match the sha256" in err and str(bundle) in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()

    model = tmp_path / "model.safetensors"
    shutil.copy(inputs.gen, model)
    _flip_a_tensor_byte(model)
    with pytest.raises(ckpt.CheckpointError, match=f"{model}: its tensors do not match"):
        ckpt.load(model)


def test_a_damaged_record_of_a_torch_zip_file_is_refused(inputs, tmp_path):
    """torch's zip reader ignores the records' CRC-32s; atu checks them."""
    G, D = inputs.G, inputs.D
    path = ckpt.save_rosinality(tmp_path / "550000.pt", g_ema=G, d=D)
    torch.save({"g_ema": G.state_dict(), "d": D.state_dict()}, tmp_path / "plain.pt")  # no atu digest
    for target in (path, tmp_path / "plain.pt"):
        with zipfile.ZipFile(target) as archive:
            record = max(
                (info for info in archive.infolist() if "/data/" in info.filename), key=lambda info: info.file_size
            )  # the largest tensor
        data = bytearray(target.read_bytes())
        local = record.header_offset
        start = (
            local
            + 30
            + int.from_bytes(data[local + 26 : local + 28], "little")
            + int.from_bytes(data[local + 28 : local + 30], "little")
        )
        data[start + record.file_size // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with pytest.raises(ckpt.CheckpointError, match="does not match the checksum written with it"):
            ckpt.load(target)
