"""`atu extrapolate`: θ_s = θ_G + s·(θ_G − mean_j θ_N^j) against a float64 oracle, outputs, refusals."""

import pytest
import torch
from PIL import Image

from atu import checkpoint as ckpt
from atu.cli import main as atu_main
from atu.models import Discriminator, Generator, narrow_channels
from atu.stages.extrapolate import extrapolate
from tiny_gans import save_pretrained


def _save(path, G, D):
    save_pretrained(path, G, D)
    return path


@pytest.fixture
def models(tmp_path):
    torch.manual_seed(0)
    ch = narrow_channels(16, 4)
    G, D = Generator(16, style_dim=16, n_mlp=1, channels=ch), Discriminator(16, channels=ch)
    gen = _save(tmp_path / "gen.safetensors", G, D)
    adapted = []
    for j in range(2):
        Gj = Generator(16, style_dim=16, n_mlp=1, channels=ch)
        Gj.load_state_dict(G.state_dict())
        with torch.no_grad():
            for p in Gj.parameters():
                p.add_(0.1 * (j + 1) * torch.randn_like(p))
        adapted.append(_save(tmp_path / f"adapted_{j}.safetensors", Gj, D))
    return G, gen, adapted


def test_every_scale_is_theta_g_plus_s_times_the_direction_away(models, tmp_path):
    G, gen, adapted = models
    files = extrapolate(gen, adapted, tmp_path / "out", scales=[0.0, 1.0, -1.0, 1.9], n_strip=3)
    refs = [ckpt.load(f).state_dict("g_ema") for f in adapted]
    for s, f in zip([0.0, 1.0, -1.0, 1.9], files):
        got = ckpt.load(f)
        assert got.metadata["extrapolation"]["s"] == s
        state = got.state_dict("g_ema")
        for name, p in G.named_parameters():
            g = p.detach().double()
            mean_n = (refs[0][name].double() + refs[1][name].double()) / 2
            torch.testing.assert_close(state[name].double(), g + s * (g - mean_n), rtol=1e-6, atol=1e-7)
        for name, b in G.named_buffers():
            assert torch.equal(state[name], b)
        assert set(got.sections) == {"g_ema", "d"}
    assert torch.equal(ckpt.load(files[0]).state_dict("g_ema")["conv1.conv.weight"], G.conv1.conv.weight.detach())
    with Image.open(tmp_path / "out" / "strip.png") as im:  # 4 rows (one per s) of 3 samples
        assert im.size[1] > im.size[0] >= 3 * 16


def test_refusals_write_nothing(models, tmp_path):
    G, gen, adapted = models
    with pytest.raises(ValueError, match="distinct finite"):
        extrapolate(gen, adapted, tmp_path / "a", scales=[1.0, 1.0])
    with pytest.raises(ValueError, match="distinct finite"):
        extrapolate(gen, adapted, tmp_path / "a", scales=[float("nan")])
    other = Generator(16, style_dim=8, n_mlp=1, channels=narrow_channels(16, 4))
    bad = _save(tmp_path / "other.safetensors", other, Discriminator(16, channels=narrow_channels(16, 4)))
    with pytest.raises(ValueError, match="differs from --gen"):
        extrapolate(gen, [bad], tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no such file"):
        extrapolate(gen, [tmp_path / "missing.safetensors"], tmp_path / "a")
    assert not (tmp_path / "a").exists()
    extrapolate(gen, adapted, tmp_path / "b", scales=[0.5], n_strip=1)
    before = (tmp_path / "b" / "s+0p50.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        extrapolate(gen, adapted, tmp_path / "b", scales=[0.5])
    assert (tmp_path / "b" / "s+0p50.safetensors").read_bytes() == before


def test_the_command_line(models, tmp_path, capsys):
    _, gen, adapted = models
    assert (
        atu_main(
            ["extrapolate", "--gen", str(gen), "--adapted", *map(str, adapted), "--out"]
            + [str(tmp_path / "cli"), "--scales", "0", "1", "--n-strip", "2"]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "s+0p00.safetensors",
        "s+1p00.safetensors",
        "strip.png",
    ]
    assert "2 models" in capsys.readouterr().out
