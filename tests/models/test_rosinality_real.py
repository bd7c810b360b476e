"""A checkpoint as rosinality's own train.py writes it (tests/fixtures/rosinality, made by its
make_fixture.py with rosinality's model.py, train.py's argument parser and torch.save call; none of
that code is needed here): atu's models have its layout, read its file (optimiser states with
integer keys, the argparse Namespace, ada_aug_p), and draw and score what its own g_ema and D did."""

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from atu import checkpoint
from atu.cli import main as atu_main
from atu.models import Discriminator, Generator
from rosinality_weights import named_weights

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "rosinality"
STRUCTURE = json.loads((FIXTURE / "structure.json").read_text())


def _sections():
    """The weights rosinality's g, d and g_ema held, rebuilt from their names (rosinality_weights.py)."""
    built = {
        "g": Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).state_dict(),
        "d": Discriminator(32, channel_multiplier=1).state_dict(),
    }
    built["g_ema"] = built["g"]
    out = {}
    for section, entries in STRUCTURE["sections"].items():
        weights = named_weights({name: tuple(shape) for name, shape in entries}, built[section])
        if section == "g_ema":
            weights = {k: v if k.endswith(".kernel") else v * 1.01 for k, v in weights.items()}
        out[section] = weights
    return out


def _adam_state(state_dict, lr, betas):
    """An Adam state after one step over tensors of these shapes: what train.py's g_optim/d_optim hold."""
    params = [torch.nn.Parameter(t.clone()) for t in state_dict.values()]
    optim = torch.optim.Adam(params, lr=lr, betas=betas)
    for p in params:
        p.grad = torch.ones_like(p)
    optim.step()
    return optim.state_dict()


@pytest.fixture(scope="module")
def train_py_file(tmp_path_factory):
    sections = _sections()
    args = argparse.Namespace(**STRUCTURE["args"])
    g_params = {k: v for k, v in sections["g"].items() if not k.endswith(".kernel") and not k.startswith("noises.")}
    d_params = {k: v for k, v in sections["d"].items() if not k.endswith(".kernel")}
    path = tmp_path_factory.mktemp("rosinality") / "000010.pt"
    torch.save(
        {
            "g": sections["g"],
            "d": sections["d"],
            "g_ema": sections["g_ema"],
            "g_optim": _adam_state(g_params, 0.0016, (0.0, 0.99**0.8)),
            "d_optim": _adam_state(d_params, 0.0019, (0.0, 0.99 ** (16 / 17))),
            "args": args,
            "ada_aug_p": 0.0,
        },
        path,
    )
    return path, sections


def test_atu_models_have_rosinalitys_layout_and_the_rebuilt_weights_are_its():
    atu_layout = {
        "g": Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).state_dict(),
        "d": Discriminator(32, channel_multiplier=1).state_dict(),
    }
    for section in ("g", "d"):
        assert [[k, list(v.shape)] for k, v in atu_layout[section].items()] == STRUCTURE["sections"][section]
    digest = hashlib.sha256()
    sections = _sections()
    for section in sorted(sections):
        for name, tensor in sections[section].items():
            digest.update(f"{section}/{name}".encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == STRUCTURE["weights_sha256"]


def test_the_file_has_train_pys_structure(train_py_file):
    path, _ = train_py_file
    raw = torch.load(path, weights_only=False)
    kinds = {k: type(v).__name__ if not isinstance(v, float) else "float" for k, v in raw.items()}
    kinds = {k: ("OrderedDict" if k in ("g", "d", "g_ema") else v) for k, v in kinds.items()}
    assert list(kinds) == list(STRUCTURE["top_level"]) and kinds["args"] == STRUCTURE["top_level"]["args"]
    optim = raw["g_optim"]
    assert sorted(optim) == STRUCTURE["optimizer"]["keys"] and isinstance(next(iter(optim["state"])), int)
    assert sorted(optim["state"][0]) == sorted(STRUCTURE["optimizer"]["state_entry"])
    assert sorted(optim["param_groups"][0]) == STRUCTURE["optimizer"]["param_group_keys"]


def test_atu_reads_it_and_draws_and_scores_what_rosinalitys_code_did(train_py_file):
    path, _ = train_py_file
    expected = load_file(FIXTURE / "outputs.safetensors")
    ck = checkpoint.load(path)
    assert ck.sections == ["g", "d", "g_ema"] and sorted(ck.extras) == ["ada_aug_p", "d_optim", "g_optim"]
    assert ck.config["generator"]["style_dim"] == 64 and ck.metadata["args"]["size"] == 32
    with torch.no_grad():
        images, _ = ck.generator("g_ema").eval()([expected["z"]], randomize_noise=False)
        torch.testing.assert_close(images, expected["g_ema"], rtol=0, atol=1e-4)
        logits = ck.discriminator("d").eval()(expected["g_ema"])
    torch.testing.assert_close(logits, expected["d"], rtol=0, atol=1e-5)


def test_convert_to_atu_and_back_keeps_every_weight(train_py_file, tmp_path, capsys):
    path, sections = train_py_file
    assert atu_main(["convert", str(path), str(tmp_path / "model.safetensors")]) == 0
    assert atu_main(["convert", str(tmp_path / "model.safetensors"), str(tmp_path / "back.pt")]) == 0
    back = torch.load(tmp_path / "back.pt", weights_only=False)  # written by atu in this test
    for section in ("g", "d", "g_ema"):
        assert list(back[section]) == list(sections[section])
        for name, tensor in sections[section].items():
            assert torch.equal(back[section][name], tensor), (section, name)


def test_a_converted_atu_model_is_what_train_py_resumes_from(tmp_path, capsys):
    """Before: `atu convert model.safetensors model.pt` wrote g_ema, d, args and atu only, and
    rosinality's train.py --ckpt failed on ckpt["g"]. Its resume, line for line (train.py reads g, d,
    g_ema, g_optim, d_optim into its Generator, Discriminator and Adams), on atu's models, which have
    its layout (test above)."""
    sections = _sections()
    model = checkpoint.save(
        tmp_path / "model.safetensors",
        kind="stylegan2",
        config={
            "generator": Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).config(),
            "discriminator": Discriminator(32, channel_multiplier=1).config(),
        },
        state_dicts={"g_ema": sections["g_ema"], "d": sections["d"]},
    )  # what atu's stages write
    assert atu_main(["convert", str(model), str(tmp_path / "000000.pt")]) == 0
    out = capsys.readouterr().out
    assert "g written as a copy of g_ema" in out and "fresh Adam states" in out
    ckpt = torch.load(tmp_path / "000000.pt", map_location=lambda storage, loc: storage, weights_only=False)
    generator, g_ema = (Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1) for _ in range(2))
    discriminator = Discriminator(32, channel_multiplier=1)
    g_optim = torch.optim.Adam(generator.parameters(), lr=0.002 * 0.8, betas=(0.0, 0.99**0.8))
    d_optim = torch.optim.Adam(discriminator.parameters(), lr=0.002 * 16 / 17, betas=(0.0, 0.99 ** (16 / 17)))
    generator.load_state_dict(ckpt["g"])
    discriminator.load_state_dict(ckpt["d"])
    g_ema.load_state_dict(ckpt["g_ema"])
    g_optim.load_state_dict(ckpt["g_optim"])
    d_optim.load_state_dict(ckpt["d_optim"])
    assert g_optim.param_groups[0]["lr"] == pytest.approx(0.0016) and d_optim.param_groups[0]["betas"][0] == 0
    fake, _ = generator([torch.randn(2, 64)])  # and it trains on
    (-discriminator(fake).mean()).backward()
    g_optim.step()
    d_optim.step()
    assert torch.equal(ckpt["g"]["style.1.weight"], sections["g_ema"]["style.1.weight"])
