"""NVlabs snapshots as NVlabs' own code writes them (tests/fixtures/nvlabs, made by make_fixture.py
with stylegan2-ada-pytorch's networks.py and training_loop.py's pickling; no NVlabs code is needed
here): the test helper writes the structure the real files have, in both configurations users hold,
and atu draws from them what NVlabs' own forward drew (G_ema and G, truncation 1, constant noise,
force_fp32) and scores as its D scored."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from atu import checkpoint
from atu.checkpoint.nvlabs_pickle import PersistentRecord, read_network_pickle
from nvlabs_pickles import (
    discriminator_record,
    generator_record,
    install_stand_ins,
    remove_stand_ins,
    snapshot,
    write_pickle,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nvlabs"
STRUCTURE = json.loads((FIXTURE / "structure.json").read_text())
CONFIGS = {"fp32": dict(num_fp16_res=0, conv_clamp=None), "official": dict(num_fp16_res=4, conv_clamp=256)}
MODULE_KEYS = {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_init_args", "_init_kwargs"}


def _networks():
    tensors = load_file(FIXTURE / "tensors.safetensors")
    return {
        net: {k[len(net) + 1 :]: v for k, v in tensors.items() if k.startswith(net + ".")}
        for net in ("G_ema", "G", "D")
    }


def _write_snapshot(tmp_path, monkeypatch, config):
    env = install_stand_ins(monkeypatch, tmp_path / "EXECUTED")
    nets = _networks()
    kwargs = dict(CONFIGS[config], channel_base=128, channel_max=32)
    top = snapshot(
        env,
        G=generator_record(env, nets["G"], 32, 64, 2, **kwargs),
        D=discriminator_record(env, nets["D"], 32, **kwargs),
        G_ema=generator_record(env, nets["G_ema"], 32, 64, 2, **kwargs),
        resolution=32,
    )
    top["training_set_kwargs"].update(path="/data/digits.zip")
    path = tmp_path / f"network-snapshot-{config}.pkl"
    write_pickle(path, top)
    remove_stand_ins()
    return path, env.marker


def _kind(value):
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def _plain(value):
    if isinstance(value, dict):
        return {"<dict>": type(value).__name__, **{str(k): _plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"<" + type(value).__name__ + ">": [_plain(v) for v in value]}
    return value


def _records(record, path, out):
    """The form make_fixture.py writes, read back from atu's view of a pickle."""
    state = record.state
    out.append(
        {
            "path": path,
            "class_name": record.class_name,
            "version": record.version,
            "init_args": _plain(state["_init_args"]),
            "init_kwargs": _plain(state["_init_kwargs"]),
            "attributes": {
                k: (v if _kind(v) in ("None", "bool", "str", "int", "float") else f"<{_kind(v)}>")
                for k, v in sorted(state.items())
                if not k.startswith("_") and k != "training"
            },
            "parameters": list(state["_parameters"]),
            "buffers": list(state["_buffers"]),
            "non_persistent_buffers": sorted(state["_non_persistent_buffers_set"]),
            "modules": list(state["_modules"]),
            "module_keys": sorted(k for k in state if k in MODULE_KEYS),
        }
    )
    for name, child in record.submodules().items():
        if isinstance(child, PersistentRecord):
            _records(child, f"{path}.{name}", out)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_helper_writes_what_nvlabs_persistence_writes(tmp_path, monkeypatch, config):
    path, _ = _write_snapshot(tmp_path, monkeypatch, config)
    top = read_network_pickle(path)
    real = STRUCTURE[config]
    assert list(top) == list(real["top_level"])  # training_set_kwargs, G, D, G_ema, augment_pipe
    assert _plain(top["training_set_kwargs"]) == real["training_set_kwargs"]
    ours = []
    for key in ("G", "D", "G_ema"):
        _records(top[key], key, ours)
    theirs = [r for r in real["records"] if r["path"].split(".")[0] in ("G", "D", "G_ema")]
    assert [r["path"] for r in ours] == [r["path"] for r in theirs]
    for mine, real_record in zip(ours, theirs):
        assert mine == real_record, real_record["path"]
    assert top["augment_pipe"].class_name == "AugmentPipe"


@pytest.mark.parametrize("config", list(CONFIGS))
def test_atu_draws_and_scores_what_nvlabs_forward_did(tmp_path, monkeypatch, config):
    """The issue's bar: images within 1e-4 of NVlabs' G_ema(z, c=None, truncation_psi=1,
    noise_mode='const', force_fp32=True) (both float32; their gap is rounding, about 1e-6 of a
    peak of 8); D's logits on those images likewise."""
    path, marker = _write_snapshot(tmp_path, monkeypatch, config)
    expected = load_file(FIXTURE / "outputs.safetensors")
    ck = checkpoint.load(path)
    assert not marker.exists() and ck.sections == ["g_ema", "g", "d"]
    notes = ck.metadata["networks"]["g_ema"]
    assert notes["dropped_conv_clamp"] == ([256.0] if config == "official" else None)
    assert notes["fp16_resolutions"] == ([8, 16, 32] if config == "official" else None)
    # mixed-precision training clamps these models as NVlabs trained them
    for model in (ck.generator("g_ema"), ck.discriminator("d")):
        assert model.recorded_conv_clamp == (256.0 if config == "official" else None)
    assert ck.metadata["init_arguments"]["G_ema"]["kwargs"]["synthesis_kwargs"]["channel_base"] == 128
    with torch.no_grad():
        for section in ("g_ema", "g"):
            image, _ = ck.generator(section).eval()([expected["z"]], randomize_noise=False)
            assert image.shape == expected[section].shape
            torch.testing.assert_close(image, expected[section], rtol=0, atol=1e-4)
        logits = ck.discriminator("d").eval()(expected["g_ema"])
    torch.testing.assert_close(logits, expected["d"], rtol=0, atol=1e-5)
