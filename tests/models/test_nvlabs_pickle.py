"""NVlabs network pickles read without running them: pickles written here with the structure of
stylegan2-ada-pytorch's (persistent-object records carrying module source, nested networks, an
EasyDict of kwargs, tensors shared between G and G_ema), whose source would write a marker file if
anything executed it."""

import pickle

import numpy as np
import pytest
import torch

from atu.checkpoint import CheckpointError
from atu.checkpoint.nvlabs_pickle import PersistentRecord, read_network_pickle, state_dict_of
from nvlabs_pickles import (
    Persistent,
    generator_record,
    network,
    random_generator_tensors,
    remove_stand_ins,
    write_pickle,
)


def _snapshot(env, path):
    weight = torch.nn.Parameter(torch.randn(4, 3))
    shared = torch.nn.Parameter(torch.randn(4))  # the same tensor in G and G_ema, as a snapshot can hold
    fc = network(env, "FullyConnectedLayer", {"weight": weight, "bias": shared})
    fc.meta["state"]["weight_gain"] = 0.01 / np.sqrt(3)  # numpy scalars, as NVlabs' layers hold
    fc.meta["state"]["bias_init"] = np.float32(1.5)
    mapping = network(
        env,
        "MappingNetwork",
        {},
        buffers={"w_avg": torch.zeros(3)},
        modules={"fc0": fc},
        kwargs={"z_dim": 3, "w_dim": 3},
    )
    G = network(env, "Generator", {}, modules={"mapping": mapping}, kwargs={"z_dim": 3, "c_dim": 0})
    G_ema = network(
        env,
        "Generator",
        {},
        modules={
            "mapping": network(
                env,
                "MappingNetwork",
                {},
                buffers={"w_avg": torch.ones(3)},
                modules={
                    "fc0": network(env, "FullyConnectedLayer", {"weight": weight.detach().clone() * 2, "bias": shared})
                },
            )
        },
        kwargs={"z_dim": 3, "c_dim": 0},
    )
    with open(path, "wb") as fh:
        pickle.dump(
            {
                "G": G,
                "G_ema": G_ema,
                "D": network(env, "Discriminator", {"b": torch.nn.Parameter(torch.ones(2))}),
                "training_set_kwargs": env.EasyDict(resolution=32),
                "augment_pipe": None,
            },
            fh,
            protocol=4,
        )
    return weight, shared


def test_a_snapshot_is_read_as_records_and_nothing_in_it_runs(tmp_path, nvlabs_env):
    path = tmp_path / "network-snapshot-000400.pkl"
    weight, shared = _snapshot(nvlabs_env, path)
    remove_stand_ins()  # as on a user's machine: no NVlabs code importable
    top = read_network_pickle(path)
    assert not nvlabs_env.marker.exists()  # the pickled source never ran
    assert isinstance(top["G"], PersistentRecord) and top["G"].class_name == "Generator"
    assert top["G"].state["_init_kwargs"] == {"z_dim": 3, "c_dim": 0} and top["training_set_kwargs"]["resolution"] == 32
    g = state_dict_of(top["G"])
    assert sorted(g) == ["mapping.fc0.bias", "mapping.fc0.weight", "mapping.w_avg"]
    torch.testing.assert_close(g["mapping.fc0.weight"], weight.detach(), rtol=0, atol=0)
    g_ema = state_dict_of(top["G_ema"])
    torch.testing.assert_close(g_ema["mapping.fc0.weight"], weight.detach() * 2, rtol=0, atol=0)
    assert g_ema["mapping.fc0.bias"].data_ptr() == g["mapping.fc0.bias"].data_ptr()  # shared stays shared
    assert len(top["G"].source_sha256) == 64
    fc = top["G"].submodules()["mapping"].submodules()["fc0"]
    assert fc.state["weight_gain"] == 0.01 / np.sqrt(3) and type(fc.state["weight_gain"]) is float
    assert fc.state["bias_init"] == 1.5


def test_the_same_file_would_run_its_source_through_an_ordinary_unpickler(tmp_path, nvlabs_env):
    """The oracle for the test above: the marker is what executing the pickle does."""
    path = tmp_path / "snapshot.pkl"
    _snapshot(nvlabs_env, path)
    with open(path, "rb") as fh:
        pickle.load(fh)
    assert nvlabs_env.marker.read_text() == "ran"


def test_any_other_global_is_refused_by_name_before_anything_is_built(tmp_path, nvlabs_env):
    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {nvlabs_env.marker}",))

    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"G": Evil()}, fh, protocol=4)
    with pytest.raises(CheckpointError, match=r"refused: the pickle needs (posix|os)\.system"):
        read_network_pickle(path)
    assert not nvlabs_env.marker.exists()


def test_a_numpy_object_array_is_refused(tmp_path):
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps({"G": np.array([print], dtype=object)}, protocol=4))
    with pytest.raises(CheckpointError, match=r"refused: the pickle needs numpy\._?core\.multiarray\._reconstruct"):
        read_network_pickle(path)
    odd = tmp_path / "complex.pkl"  # a numpy scalar of a kind that is not a plain number
    odd.write_bytes(pickle.dumps({"x": np.complex128(1 + 2j)}, protocol=4))
    with pytest.raises(CheckpointError, match="refused: a numpy dtype 'c16'"):
        read_network_pickle(odd)


def test_damaged_and_foreign_pickles_are_checkpoint_errors(tmp_path, nvlabs_env):
    path = tmp_path / "snapshot.pkl"
    _snapshot(nvlabs_env, path)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_network_pickle(cut)
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    with pytest.raises(CheckpointError, match="holds a dict of networks, this one a list"):
        read_network_pickle(listed)
    old = Persistent(nvlabs_env, "Generator", {})
    old.meta["version"] = 3
    versioned = tmp_path / "v3.pkl"
    versioned.write_bytes(pickle.dumps({"G": old}, protocol=4))
    with pytest.raises(CheckpointError, match="persistence format version 3"):
        read_network_pickle(versioned)


def test_atu_convert_writes_the_generators_and_runs_nothing(tmp_path, nvlabs_env):
    from atu import checkpoint
    from atu.cli import main

    tensors = random_generator_tensors(16, 8, 2, {4: 8, 8: 8, 16: 8}, seed=3)
    G = generator_record(nvlabs_env, tensors, 16, 8, 2)
    path = tmp_path / "network-snapshot-000400.pkl"
    write_pickle(path, {"G": G, "G_ema": G, "D": None})
    remove_stand_ins()
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(path), str(out)]) == 0
    assert not nvlabs_env.marker.exists()
    original, converted = checkpoint.load(path), checkpoint.load(out)
    assert converted.sections == ["g_ema", "g"]
    for name, tensor in original.state_dicts["g_ema"].items():
        assert torch.equal(tensor, converted.state_dicts["g_ema"][name]), name
