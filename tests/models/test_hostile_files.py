"""Checkpoint files made to break the readers, as a hostile user would make them: every one is a
CheckpointError (exit 2, one line, nothing written), never a traceback, a mutated torch or an
allocation the file does not pay for; and a fuzz over real files (truncated, bit-flipped, shuffled)
that ends either in a model or in exit 2."""

import argparse
import io
import random
import re
import resource

import pytest
import torch

from atu import checkpoint
from atu.checkpoint import CheckpointError
from atu.checkpoint.nvlabs_pickle import read_network_pickle
from atu.cli import main as atu_main
from nvlabs_pickles import (
    discriminator_record,
    generator_record,
    random_discriminator_tensors,
    random_generator_tensors,
    remove_stand_ins,
    snapshot,
    write_pickle,
)
from tiny_gans import tiny_models

WIDTHS = {4: 8, 8: 6, 16: 4}


def _generator(nvlabs_env, **kwargs):
    return generator_record(nvlabs_env, random_generator_tensors(16, 8, 2, WIDTHS, seed=1), 16, 8, 2, **kwargs)


def _refused(capsys, path, tmp_path, match):
    """`atu convert` refuses the file: exit 2, one line naming it and `match`, nothing written."""
    out = tmp_path / "converted.safetensors"
    assert atu_main(["convert", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err and err.count("\n") == 1, err
    assert re.search(match, err), err
    assert not out.exists() and not list(tmp_path.glob("converted*"))


def _peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# ---- pickle structure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, match",
    [
        ("int", "G_ema\\]: a int, not a network"),
        ("easydict", "G_ema\\]: a EasyDict, not a network"),
        ("modules_list", "whose _modules is not a table of names"),
        ("parameter_int", "expected a tensor, got int"),
        ("up_string", "whose 'up' is 'two'"),
        ("wdim_missing", "without its 'w_dim'"),
        ("cycle", "contains itself"),
    ],
)
def test_a_snapshot_of_the_wrong_shape_is_a_checkpoint_error(tmp_path, nvlabs_env, capsys, case, match):
    G = _generator(nvlabs_env)
    synthesis = G.meta["state"]["_modules"]["synthesis"]
    block = synthesis.meta["state"]["_modules"]["b8"]
    if case == "int":
        G = 7
    elif case == "easydict":
        G = nvlabs_env.EasyDict(z_dim=8)
    elif case == "modules_list":
        block.meta["state"]["_modules"] = [1, 2]
    elif case == "parameter_int":
        block.meta["state"]["_modules"]["conv1"].meta["state"]["_parameters"]["bias"] = 3
    elif case == "up_string":
        block.meta["state"]["_modules"]["conv0"].meta["state"]["up"] = "two"
    elif case == "wdim_missing":
        mapping = G.meta["state"]["_modules"]["mapping"].meta["state"]
        del mapping["w_dim"], mapping["_init_kwargs"]["w_dim"]
    path = tmp_path / "snapshot.pkl"
    top = snapshot(nvlabs_env, G_ema=G, resolution=16)
    if case == "cycle":
        # the block's module table pickled first, so that the generator is complete when the table
        # receives it: the file's generator then holds itself two levels down
        block.meta["state"]["_modules"]["again"] = G
        top = {"table": block.meta["state"]["_modules"], **top}
    write_pickle(path, top)
    remove_stand_ins()
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(path)
    _refused(capsys, path, tmp_path, match)
    assert not nvlabs_env.marker.exists()


def test_a_build_opcode_on_an_allowed_function_changes_nothing_in_torch(tmp_path):
    """GLOBAL torch._utils._rebuild_tensor_v2, then BUILD {'evil': 1}: an ordinary unpickler would set
    an attribute on torch's function inside the reading process."""
    rebuild = torch._utils._rebuild_tensor_v2
    raw = (
        b"\x80\x04}X\x01\x00\x00\x00G"
        + b"ctorch._utils\n_rebuild_tensor_v2\n"
        + b"}X\x04\x00\x00\x00evilK\x01sb"
        + b"s."
    )
    path = tmp_path / "build.pkl"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match="refused: the pickle sets attributes on torch._utils._rebuild_tensor_v2"):
        read_network_pickle(path)
    assert not hasattr(rebuild, "evil") and torch._utils._rebuild_tensor_v2 is rebuild


# ---- allocation bombs ---------------------------------------------------------------------------


def test_a_zero_stride_view_is_refused_before_it_is_copied(tmp_path, nvlabs_env, capsys):
    """One float presented as 2^31 of them: a copy would take 8 GiB."""
    G = _generator(nvlabs_env)
    conv = G.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b8"].meta["state"]["_modules"]["conv1"]
    conv.meta["state"]["_buffers"]["noise_const"] = torch.zeros(1).expand(2**31)
    path = tmp_path / "views.pkl"
    write_pickle(path, snapshot(nvlabs_env, G_ema=G, resolution=16))
    remove_stand_ins()
    assert path.stat().st_size < 200_000
    before = _peak_rss_gib()
    with pytest.raises(
        CheckpointError, match="a tensor claims 2,147,483,648 elements .*a view that repeats or overruns"
    ):
        checkpoint.load(path)
    assert _peak_rss_gib() - before < 1.0


class _StorageBytes:
    """Pickles as NVlabs' tensors' storages do: torch.storage._load_from_bytes(<legacy torch.save bytes>)."""

    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.data,)


def _declaring(data, numel):
    """A legacy torch.save stream whose first storage declares `numel` elements: its persistent id
    ends "...", "cpu", <count>; the count (BININT1/2/4 after the location's BINPUT) becomes LONG1."""
    at = data.index(b"X\x03\x00\x00\x00cpu") + 8
    at += {b"q": 2, b"r": 5}[data[at : at + 1]]
    width = {b"K": 2, b"M": 3, b"J": 5}[data[at : at + 1]]
    return data[:at] + b"\x8a\x06" + numel.to_bytes(6, "little") + data[at + width :]


def _legacy_storage(numel):
    buf = io.BytesIO()
    torch.save(torch.ones(4).untyped_storage(), buf, _use_new_zipfile_serialization=False)
    return _declaring(buf.getvalue(), numel)


def test_a_storage_that_declares_more_than_it_holds_is_refused_before_allocating(tmp_path, nvlabs_env, capsys):
    """An NVlabs tensor's storage bytes declaring 2^45 bytes (32 TiB) in a file of a few kilobytes."""
    G = _generator(nvlabs_env)
    G.meta["state"]["_modules"]["mapping"].meta["state"]["_buffers"]["w_avg"] = _StorageBytes(_legacy_storage(2**45))
    path = tmp_path / "declares.pkl"
    write_pickle(path, snapshot(nvlabs_env, G_ema=G, resolution=16))
    remove_stand_ins()
    with pytest.raises(CheckpointError, match="declares 35,184,372,088,832 bytes of tensor storage but holds only"):
        checkpoint.load(path)


def test_a_legacy_torch_file_that_declares_terabytes_is_refused(tmp_path, capsys):
    G, _ = tiny_models(seed=0)
    buf = io.BytesIO()
    torch.save({"g_ema": G.state_dict()}, buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "declares.pt"
    path.write_bytes(_declaring(buf.getvalue(), 2**40))
    with pytest.raises(CheckpointError, match="declares .* bytes of tensor storage but holds only"):
        checkpoint.load(path)
    _refused(capsys, path, tmp_path, "declares")


def _namespace_file(tmp_path, name, value):
    G, _ = tiny_models(seed=0)
    path = tmp_path / name
    torch.save({"g_ema": G.state_dict(), "args": argparse.Namespace(size=16, note=value)}, path)
    return path


def test_metadata_that_expands_without_end_is_refused(tmp_path, capsys):
    """Shared references: ten levels of ten copies of one list, 10^10 values in a few hundred bytes."""
    laughs = [0] * 10
    for _ in range(9):
        laughs = [laughs] * 10
    path = _namespace_file(tmp_path, "laughs.pt", laughs)
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match="args holds more than 10,000 values"):
        checkpoint.load(path)
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(CheckpointError, match="args is nested more than 16 levels deep"):
        checkpoint.load(_namespace_file(tmp_path, "deep.pt", deep))


def test_an_integer_state_dict_key_is_named(tmp_path, capsys):
    G, _ = tiny_models(seed=0)
    path = tmp_path / "int-key.pt"
    torch.save({"g_ema": {**G.state_dict(), 7: torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="has a key '7' of type int; state dict keys are names"):
        checkpoint.load(path)


# ---- a fuzz over real files ----------------------------------------------------------------------


def _real_files(tmp_path, nvlabs_env):
    G, D = tiny_models(seed=0)
    files = {}
    files["nvlabs"] = tmp_path / "network-snapshot.pkl"
    write_pickle(
        files["nvlabs"],
        snapshot(
            nvlabs_env,
            G=_generator(nvlabs_env),
            G_ema=_generator(nvlabs_env),
            resolution=16,
            D=discriminator_record(nvlabs_env, random_discriminator_tensors(16, WIDTHS, 2), 16),
        ),
    )
    remove_stand_ins()
    files["rosinality"] = checkpoint.save_rosinality(tmp_path / "550000.pt", g=G, g_ema=G, d=D)
    files["atu"] = checkpoint.save(
        tmp_path / "model.safetensors",
        kind="stylegan2",
        config={"generator": G.config(), "discriminator": D.config()},
        state_dicts={"g_ema": G.state_dict(), "d": D.state_dict()},
    )
    return files


def _damaged(data, rng):
    kind = rng.choice(["truncate", "flip", "shuffle"])
    if kind == "truncate":
        return data[: rng.randrange(1, len(data))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    chunk = max(1, len(data) // rng.randint(4, 16))
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    a, b = rng.sample(range(len(pieces)), 2)
    pieces[a], pieces[b] = pieces[b], pieces[a]
    return b"".join(pieces)


@pytest.mark.parametrize("kind", ["nvlabs", "rosinality", "atu"])
def test_damaged_real_files_end_in_a_model_or_exit_2_never_a_traceback(tmp_path, nvlabs_env, capsys, kind):
    source = _real_files(tmp_path, nvlabs_env)[kind]
    data = source.read_bytes()
    rng = random.Random(f"fuzz-{kind}")
    outcomes = {0: 0, 2: 0}
    for i in range(40):
        damaged = tmp_path / f"damaged-{i}{source.suffix}"
        damaged.write_bytes(_damaged(data, rng))
        out = tmp_path / f"out-{i}.safetensors"
        status = atu_main(["convert", str(damaged), str(out)])
        err = capsys.readouterr().err
        assert status in outcomes, (i, status, err)
        assert "Traceback" not in err
        outcomes[status] += 1
        assert out.exists() == (status == 0), (i, err)
    assert outcomes[2] >= 20, outcomes  # most damage is caught; the rest is a model with other weights
