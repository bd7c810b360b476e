"""atu.checkpoint and `atu convert`.

Oracles: rosinality-layout files are written here with plain torch.save, the way rosinality's
train.py writes them; images are compared with the original modules and with the independent
functional oracle (rosinality_oracle.py); inferred architectures are compared with configs written
out by hand and with the reference layouts (the TSVs, taken from rosinality's own models).
"""

import argparse
import os
import pickle
import shlex

import pytest
import torch

import rosinality_oracle as oracle
from atu import checkpoint as ckpt
from atu import cli, layouts
from atu.checkpoint import CheckpointError, CheckpointWarning
from atu.models import Discriminator, Generator

# Widths no multiplier of rosinality's table gives: they must come back through `channels=`.
G_WIDTHS = {4: 16, 8: 12, 16: 8}
D_WIDTHS = {4: 8, 8: 12, 16: 16}
STYLE_DIM, N_MLP = 32, 2


def _randomised(model, seed):
    """Non-zero biases and noise strengths too (rosinality initialises them to 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("noise.weight") or name.endswith("bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return model


def _models(seed=0):
    torch.manual_seed(seed)
    G = _randomised(Generator(16, STYLE_DIM, N_MLP, channels=G_WIDTHS), seed)
    g_ema = _randomised(Generator(16, STYLE_DIM, N_MLP, channels=G_WIDTHS), seed + 1)
    D = _randomised(Discriminator(16, channels=D_WIDTHS), seed + 2)
    return G, g_ema, D


def _rosinality_args():
    return argparse.Namespace(
        path="lmdb/ffhq",
        iter=800000,
        batch=16,
        size=16,
        latent=STYLE_DIM,
        n_mlp=N_MLP,
        channel_multiplier=2,
        r1=10.0,
        mixing=0.9,
        ckpt=None,
        lr=0.002,
        wandb=False,
    )


def _write_rosinality(path, G, g_ema_module, D, **overrides):
    """What rosinality's train.py saves (entries replaced by `overrides`), with nothing from atu."""
    payload = {
        "g": G.state_dict(),
        "d": D.state_dict(),
        "g_ema": g_ema_module.state_dict(),
        "g_optim": torch.optim.Adam(G.parameters()).state_dict(),
        "d_optim": torch.optim.Adam(D.parameters()).state_dict(),
        "args": _rosinality_args(),
        "ada_aug_p": 0.0,
    }
    payload.update(overrides)
    torch.save({k: v for k, v in payload.items() if v is not None}, path)
    return path


def _torch_load_trusted(path):
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, weights_only=True)


def _assert_same_tensors(a, b):
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and torch.equal(a[name], b[name]), name


# ---- reading rosinality's layout -----------------------------------------------------------------


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch-zip", "legacy-pickle"])
def test_a_rosinality_file_loads_strictly_and_draws_the_same_images(tmp_path, zip_format):
    G, g_ema, D = _models()
    path = tmp_path / "550000.pt"
    payload = {"g": G.state_dict(), "d": D.state_dict(), "g_ema": g_ema.state_dict(), "args": _rosinality_args()}
    torch.save(payload, path, _use_new_zipfile_serialization=zip_format)

    loaded = ckpt.load(path)
    assert (loaded.format, loaded.kind) == ("rosinality", "stylegan2")
    assert loaded.file_format == ("torch-zip" if zip_format else "pickle")
    assert loaded.sections == ["g", "d", "g_ema"]
    assert loaded.metadata["args"]["latent"] == STYLE_DIM

    z = torch.randn(3, STYLE_DIM, generator=torch.Generator().manual_seed(5))
    noise = g_ema.make_noise(torch.Generator().manual_seed(6), batch=3)
    with torch.no_grad():
        want, _ = g_ema([z], noise=noise)
        got, _ = loaded.generator()([z], noise=noise)
        assert torch.equal(got, want)
        independent = oracle.generator(loaded.state_dicts["g_ema"], z, noise, n_mlp=N_MLP)
        torch.testing.assert_close(got, independent, rtol=1e-4, atol=1e-4)
        got_g, _ = loaded.generator("g")([z], noise=noise)
        assert torch.equal(got_g, G([z], noise=noise)[0])
        images = torch.randn(4, 3, 16, 16)
        assert torch.equal(loaded.discriminator()(images), D(images))


def test_optimizer_states_and_other_entries_are_kept_raw(tmp_path):
    G, g_ema, D = _models()
    loaded = ckpt.load(_write_rosinality(tmp_path / "ckpt.pt", G, g_ema, D))
    assert sorted(loaded.extras) == ["ada_aug_p", "d_optim", "g_optim"]
    assert loaded.extras["g_optim"]["param_groups"][0]["lr"] == 0.001


def test_a_checkpoint_with_g_ema_only_builds_the_generator_and_names_what_is_missing(tmp_path):
    _, g_ema, _ = _models()
    path = tmp_path / "g_ema_only.pt"
    torch.save({"g_ema": g_ema.state_dict()}, path)
    loaded = ckpt.load(path)
    assert loaded.generator().config() == g_ema.config()
    with pytest.raises(CheckpointError, match=r"no section 'd'.*available sections: g_ema"):
        loaded.discriminator()
    with pytest.raises(CheckpointError, match=r"available sections: g_ema"):
        loaded.generator("g")


def test_a_bare_generator_state_dict_is_read_as_g_ema_also_from_a_ddp_wrapper(tmp_path):
    _, g_ema, _ = _models()
    path = tmp_path / "generator.pt"
    torch.save({f"module.{k}": v for k, v in g_ema.state_dict().items()}, path)
    loaded = ckpt.load(path)
    assert (loaded.format, loaded.sections) == ("state_dict", ["g_ema"])
    _assert_same_tensors(loaded.generator().state_dict(), g_ema.state_dict())


def test_stage1_mean_and_fisher_entries_are_reported_and_ignored(tmp_path):
    G, g_ema, D = _models()
    with_statistics = dict(G.state_dict())
    for name in ("conv1.conv.weight", "convs.0.conv.weight"):
        with_statistics[f"{name}_mean"] = with_statistics[name].clone()
        with_statistics[f"{name}_fisher"] = torch.rand_like(with_statistics[name])
    path = _write_rosinality(tmp_path / "stage1.pt", G, g_ema, D, g=with_statistics)
    with pytest.warns(CheckpointWarning, match="ignored 4 entries"):
        loaded = ckpt.load(path)
    assert sorted(loaded.ignored) == [
        "g/conv1.conv.weight_fisher",
        "g/conv1.conv.weight_mean",
        "g/convs.0.conv.weight_fisher",
        "g/convs.0.conv.weight_mean",
    ]
    _assert_same_tensors(loaded.generator("g").state_dict(), G.state_dict())


def test_saved_arguments_are_only_a_hint_the_weights_win(tmp_path):
    G, g_ema, D = _models()
    wrong_args = argparse.Namespace(size=64, latent=STYLE_DIM, n_mlp=N_MLP, channel_multiplier=2)
    path = _write_rosinality(tmp_path / "ckpt.pt", G, g_ema, D, args=wrong_args)
    with pytest.warns(CheckpointWarning, match="size=64.*weights say 16"):
        loaded = ckpt.load(path)
    assert loaded.config["generator"]["size"] == 16


def test_a_section_that_does_not_fit_the_architecture_fails_at_load_naming_the_entry(tmp_path):
    G, g_ema, D = _models()
    broken = dict(G.state_dict())
    del broken["convs.1.noise.weight"]
    with pytest.raises(CheckpointError, match=r"\[g\].*missing: convs\.1\.noise\.weight"):
        ckpt.load(_write_rosinality(tmp_path / "broken.pt", G, g_ema, D, g=broken))
    wider = Generator(16, STYLE_DIM, N_MLP, channels={4: 16, 8: 12, 16: 12})
    with pytest.raises(CheckpointError, match=r"\[g\].*wrong shape"):
        ckpt.load(_write_rosinality(tmp_path / "mixed.pt", wider, g_ema, D))


# ---- architecture inference -----------------------------------------------------------------------


def _meta_state_dict(layout):
    return {e.name: torch.empty(e.shape, device="meta") for e in layouts.load(layout)}


def _rosinality_g_config(size, style_dim):
    """The settings of rosinality's generator (8 mapping layers, channel multiplier 2) at size and style_dim."""
    return dict(size=size, style_dim=style_dim, n_mlp=8, channel_multiplier=2, blur_kernel=[1, 3, 3, 1], lr_mlp=0.01)


def test_the_full_256_architecture_is_read_from_the_weights():
    G, D = Generator(256, 512, 8, 2), Discriminator(256, 2)
    g_config = ckpt.infer_generator_config(G.state_dict())
    d_config = ckpt.infer_discriminator_config(D.state_dict())
    assert g_config == _rosinality_g_config(size=256, style_dim=512)
    assert d_config == {"size": 256, "channel_multiplier": 2, "blur_kernel": [1, 3, 3, 1]}
    # ... and rebuilds exactly rosinality's reference layout
    ckpt.check_layout(_meta_state_dict("G256"), Generator, g_config, "G256.tsv")
    ckpt.check_layout(_meta_state_dict("D256"), Discriminator, d_config, "D256.tsv")


def test_the_32_px_mnist_architecture_is_read_from_the_weights_and_the_multiplier_hint_breaks_the_tie():
    G, D = Generator(32, 128, 8, 2), Discriminator(32, 2)
    g_config = ckpt.infer_generator_config(G.state_dict())
    assert g_config == _rosinality_g_config(size=32, style_dim=128)
    ckpt.check_layout(_meta_state_dict("G32"), Generator, g_config, "G32.tsv")
    d_config = ckpt.infer_discriminator_config(D.state_dict())
    ckpt.check_layout(_meta_state_dict("D32"), Discriminator, d_config, "D32.tsv")
    # every multiplier gives 512 channels up to 32 px: the saved arguments decide
    assert ckpt.infer_generator_config(G.state_dict(), hint={"channel_multiplier": 1})["channel_multiplier"] == 1


def test_narrow_and_custom_widths_round_trip_through_channels():
    G, _, D = _models()
    g_config = ckpt.infer_generator_config(G.state_dict())
    assert g_config["channels"] == {"4": 16, "8": 12, "16": 8}
    assert g_config == G.config()
    assert ckpt.infer_discriminator_config(D.state_dict()) == D.config()
    rebuilt = Generator.from_config(g_config)
    rebuilt.load_state_dict(G.state_dict(), strict=True)


def test_a_state_dict_that_is_no_stylegan2_says_so():
    with pytest.raises(CheckpointError, match=r"x\.pt \[g\]: no to_rgbs; not a StyleGAN2 generator"):
        ckpt.infer_generator_config({"style.1.weight": torch.zeros(4, 4)}, where="x.pt [g]")
    with pytest.raises(CheckpointError, match="numbered"):
        ckpt.infer_generator_config({"style.1.weight": torch.zeros(4, 4), "style.3.weight": torch.zeros(4, 4)})


# ---- safety and damaged files ---------------------------------------------------------------------


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _WritesAFileThroughTorch:
    """A global inside torch that is not data: the scan lets torch.* through, torch's unpickler must not."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (torch.save, ({"pwned": 1}, str(self.marker)))


@pytest.mark.parametrize("writer", ["pickle", "torch-zip", "torch-legacy"])
def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "MARKER"
    payload = {"g_ema": _RunsAShellCommand(marker)}
    path = tmp_path / "evil.pt"
    if writer == "pickle":
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=writer == "torch-zip")
    with pytest.raises(CheckpointError, match=r"refused: the file needs (posix|nt)\.system") as err:
        ckpt.load(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_a_torch_global_that_is_not_data_is_refused_by_name(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": _WritesAFileThroughTorch(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused: the file needs torch\.serialization\.save"):
        ckpt.load(path)
    assert not marker.exists()


def _write_kind(kind, path):
    _, g_ema, _ = _models()
    if kind == "safetensors":
        ckpt.save(path, kind="stylegan2", config={}, state_dicts={"g_ema": g_ema.state_dict()})
    else:
        torch.save({"g_ema": g_ema.state_dict()}, path, _use_new_zipfile_serialization=kind == "torch-zip")


@pytest.mark.parametrize("kind", ["torch-zip", "torch-legacy", "safetensors"])
def test_a_truncated_file_gives_a_checkpoint_error_naming_it(tmp_path, kind):
    path = tmp_path / f"model.{'safetensors' if kind == 'safetensors' else 'pt'}"
    _write_kind(kind, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        ckpt.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x00" * 64])
def test_an_unknown_or_empty_file_gives_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a checkpoint atu can read") as err:
        ckpt.load(path)
    assert str(path) in str(err.value)


def test_a_missing_file_gives_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        ckpt.load(tmp_path / "nope.pt")


# ---- atu's format ---------------------------------------------------------------------------------


def test_the_atu_format_round_trips_bit_exact_with_metadata_and_is_found_by_content(tmp_path):
    G, g_ema, D = _models()
    state_dicts = {
        "g_ema": g_ema.state_dict(),
        "d": D.state_dict(),
        "extra": {"counts": torch.arange(5), "half": torch.randn(3, dtype=torch.bfloat16)},
    }
    config = {"generator": g_ema.config(), "discriminator": D.config()}
    metadata = {
        "step": 1234,
        "seed": 7,
        "data": {"name": "digits", "exclude_classes": [1, 4]},
        "lr": 0.002,
        "note": "unlearning «1»",
        "none": None,
    }
    path = tmp_path / "model.ckpt"  # the extension says nothing; the content does
    ckpt.save(path, kind="stylegan2", config=config, state_dicts=state_dicts, metadata=metadata)
    loaded = ckpt.load(path)
    assert (loaded.format, loaded.file_format, loaded.kind) == ("atu", "safetensors", "stylegan2")
    assert loaded.config == config and loaded.metadata == metadata
    assert loaded.sections == ["g_ema", "d", "extra"]
    for section, state_dict in state_dicts.items():
        _assert_same_tensors(loaded.state_dicts[section], state_dict)
    assert loaded.generator().config() == g_ema.config()
    assert ckpt.load_atu(path).metadata == metadata


def test_an_interrupted_safetensors_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    import safetensors.torch

    path = tmp_path / "model.safetensors"
    ckpt.save(path, kind="stylegan2", config={}, state_dicts={"a": {"x": torch.zeros(3)}}, metadata={"v": 1})
    before = path.read_bytes()

    def dies_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b'\x10\x00\x00\x00\x00\x00\x00\x00{"partial')
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save(path, kind="stylegan2", config={}, state_dicts={"a": {"x": torch.ones(3)}}, metadata={"v": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert ckpt.load(path).metadata == {"v": 1}


def test_an_interrupted_rosinality_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    G, g_ema, D = _models()
    path = tmp_path / "model.pt"
    ckpt.save_rosinality(path, g_ema=g_ema)
    before = path.read_bytes()

    def dies_half_way(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_rosinality(path, g_ema=G, d=D)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]


def test_bad_metadata_fails_before_anything_is_written(tmp_path):
    path = tmp_path / "model.safetensors"
    with pytest.raises(TypeError, match="not JSON serialisable"):
        ckpt.save(
            path, kind="stylegan2", config={}, state_dicts={"a": {"x": torch.zeros(1)}}, metadata={"bad": object()}
        )
    assert os.listdir(tmp_path) == []


# ---- writing rosinality's layout and `atu convert` ------------------------------------------------


def test_save_rosinality_writes_what_rosinality_reads(tmp_path):
    G, g_ema, D = _models()
    path = tmp_path / "for_the_authors.pt"
    ckpt.save_rosinality(path, g=G, g_ema=g_ema, d=D)
    raw = _torch_load_trusted(path)
    assert [k for k in raw if k != "atu"] == ["g", "d", "g_ema", "args"]
    assert vars(raw["args"]) == {"size": 16, "latent": STYLE_DIM, "n_mlp": N_MLP, "channel_multiplier": 2}
    _assert_same_tensors(raw["g_ema"], g_ema.state_dict())
    assert ckpt.load(path).config == {"generator": g_ema.config(), "discriminator": D.config()}


def test_convert_rosinality_to_atu_and_back_is_bit_exact(tmp_path, capsys):
    G, g_ema, D = _models()
    source = _write_rosinality(tmp_path / "550000.pt", G, g_ema, D)
    as_atu, back = tmp_path / "model.safetensors", tmp_path / "back.pt"
    assert cli.main(["convert", str(source), str(as_atu)]) == 0
    out = capsys.readouterr().out
    assert "sections: g, d, g_ema" in out and "not converted: g_optim, d_optim, ada_aug_p" in out
    assert "channels 4:16 8:12 16:8 (custom widths)" in out
    assert ckpt.load(as_atu).metadata["args"] == vars(_rosinality_args())

    assert cli.main(["convert", str(as_atu), str(back)]) == 0
    original, round_trip = _torch_load_trusted(source), _torch_load_trusted(back)
    for section in ("g", "d", "g_ema"):
        _assert_same_tensors(round_trip[section], original[section])
    assert round_trip["args"] == original["args"]


def test_convert_atu_to_rosinality_and_back_is_bit_exact(tmp_path, capsys):
    G, g_ema, D = _models()
    source = tmp_path / "model.safetensors"
    config = {"generator": g_ema.config(), "discriminator": D.config()}
    metadata = {"step": 500, "run": {"seed": 3}, "time_utc": "2025-01-01T00:00:00+00:00"}
    ckpt.save(
        source,
        kind="stylegan2",
        config=config,
        metadata=metadata,
        state_dicts={"g": G.state_dict(), "g_ema": g_ema.state_dict(), "d": D.state_dict()},
    )
    as_pt, back = tmp_path / "model.pt", tmp_path / "back.safetensors"
    assert cli.main(["convert", str(source), str(as_pt)]) == 0
    assert "rosinality layout" in capsys.readouterr().out
    assert cli.main(["convert", str(as_pt), str(back)]) == 0
    original, round_trip = ckpt.load(source), ckpt.load(back)
    assert (round_trip.kind, round_trip.config, round_trip.metadata) == ("stylegan2", config, metadata)
    assert sorted(round_trip.sections) == sorted(original.sections)
    for section in original.sections:
        _assert_same_tensors(round_trip.state_dicts[section], original.state_dicts[section])


def test_convert_refuses_to_overwrite_or_to_write_over_its_input(tmp_path, capsys):
    G, g_ema, D = _models()
    source = _write_rosinality(tmp_path / "in.pt", G, g_ema, D)
    target = tmp_path / "out.safetensors"
    target.write_bytes(b"precious")
    assert cli.main(["convert", str(source), str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"
    assert cli.main(["convert", str(source), str(source), "--force"]) == 2
    assert "same file" in capsys.readouterr().err
    assert cli.main(["convert", str(source), str(target), "--force"]) == 0
    assert ckpt.load(target).format == "atu"


def test_convert_takes_the_output_format_from_the_extension_or_from_to(tmp_path, capsys):
    G, g_ema, D = _models()
    source = _write_rosinality(tmp_path / "in.pt", G, g_ema, D)
    target = tmp_path / "weights.bin"
    assert cli.main(["convert", str(source), str(target)]) == 2
    assert "--to" in capsys.readouterr().err and not target.exists()
    assert cli.main(["convert", str(source), str(target), "--to", "rosinality"]) == 0
    assert ckpt.load(target).format == "rosinality"


def test_convert_reports_ignored_stage1_entries_and_refuses_unsafe_input(tmp_path, capsys):
    G, g_ema, D = _models()
    with_statistics = {**g_ema.state_dict(), "conv1.conv.weight_fisher": torch.ones(1)}
    source = _write_rosinality(tmp_path / "stage1.pt", G, g_ema, D, g_ema=with_statistics)
    assert cli.main(["convert", str(source), str(tmp_path / "clean.pt")]) == 0
    assert "ignored: 1 entries that are not model weights (g_ema/conv1.conv.weight_fisher)" in capsys.readouterr().out

    evil = tmp_path / "evil.pt"
    torch.save({"g_ema": _RunsAShellCommand(tmp_path / "MARKER")}, evil)
    assert cli.main(["convert", str(evil), str(tmp_path / "out.safetensors")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not (tmp_path / "MARKER").exists() and not (tmp_path / "out.safetensors").exists()
