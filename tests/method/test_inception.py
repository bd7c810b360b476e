"""FID's Inception-v3 as pytorch-fid's weights file holds it (eval/inception.py): the layout the file's
keys and shapes need, the block facts of the 2015 graph, and `--inception` on such a file. The real
weights cannot be fetched here (no network), so the file is ours with random weights and the same
keys; the features of the real file are therefore not checked against published values."""

import pytest
import torch
import torch.nn.functional as F

from atu.eval.extractors import STATE_DICT, TORCHSCRIPT, inception_file_kind, load_inception, to_inception_input
from atu.eval.inception import BasicConv2d, FIDInceptionV3, _avg_pool, load_fid_inception

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = FIDInceptionV3().eval()
    with torch.no_grad():  # BatchNorm statistics that keep 94 random layers' activations in range
        for module in m.modules():
            if isinstance(module, BasicConv2d):
                module.bn.running_var.fill_(float(module.conv.weight[0].numel()) * 0.34)
    return m


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    """The file as pytorch-fid distributes it: a plain state dict, saved by a torch too old to track
    BatchNorm's batch counts (so num_batches_tracked is absent)."""
    path = tmp_path_factory.mktemp("fid") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path


def test_the_layout_is_the_files(model):
    state = model.state_dict()
    # the stem, the first and last blocks and the 1008-way head, as pytorch-fid's file names them
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Conv2d_1a_3x3.bn.running_var"].shape == (32,)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    assert state["fc.weight"].shape == (1008, 2048) and state["fc.bias"].shape == (1008,)
    # 94 convolutions, each with a bias-free conv and an eps-0.001 batch norm; no auxiliary head
    convs = [m for m in model.modules() if isinstance(m, BasicConv2d)]
    assert len(convs) == 94 and all(c.conv.bias is None and c.bn.eps == 0.001 for c in convs)
    assert not any(k.startswith("AuxLogits") for k in state)


def test_the_feature_maps_have_the_graphs_sizes(model):
    sizes = {}
    for name in ("Mixed_5d", "Mixed_6e", "Mixed_7c"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape)))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert sizes == {"Mixed_5d": (2, 288, 35, 35), "Mixed_6e": (2, 768, 17, 17), "Mixed_7c": (2, 2048, 8, 8)}
    assert out.shape == (2, 2048) and torch.isfinite(out).all()


def test_the_pools_are_tensorflows():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # padding left out of the mean: the corner averages its 4 in-image neighbours
    assert _avg_pool(x)[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert F.avg_pool2d(x, 3, 1, 1)[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 9  # what the default would give
    last, first = FIDInceptionV3().Mixed_7c, FIDInceptionV3().Mixed_7b
    assert last.max_pool and not first.max_pool


def test_input_is_resized_to_299_and_mapped_to_minus_one_one(model):
    seen = {}
    model.Conv2d_1a_3x3.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    images = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        model(images)
    expected = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    assert torch.equal(seen["x"], expected)


def test_the_weights_file_loads_as_pytorch_fid_feeds_it(model, weights_file):
    assert inception_file_kind(weights_file) == STATE_DICT
    extractor = load_inception(weights_file, resolution=32)
    assert extractor.record["format"] == STATE_DICT and len(extractor.record["sha256"]) == 64
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = model(to_inception_input(images) / 255)
    got = extractor.features(images)
    assert got.shape == (3, 2048) and torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_torchscript_file_is_told_apart(tmp_path):
    class Features(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(Features()).save(str(path))
    assert inception_file_kind(path) == TORCHSCRIPT
    assert load_inception(path, resolution=16).record["format"] == TORCHSCRIPT


class _Marker:
    def __reduce__(self):
        return (print, ("the file ran code",))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("Mixed_6c.branch1x1.conv.weight"), r"missing \['Mixed_6c.branch1x1.conv.weight'\]"),
        (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), r"unexpected \['extra.weight'\]"),
        (lambda s: s.__setitem__("fc.weight", torch.zeros(1000, 2048)), r"shapes differ.*fc.weight \(1000, 2048\)"),
        (lambda s: s["Conv2d_2a_3x3.conv.weight"].view(-1)[0].fill_(float("nan")), "NaN or infinite"),
    ],
)
def test_a_wrong_weights_file_is_refused_naming_what_is_wrong(model, tmp_path, change, message):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    change(state)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=message):
        load_inception(path, resolution=16)
    with pytest.raises(ValueError, match=message):
        load_fid_inception(state)


def test_a_pickle_that_runs_code_or_another_torch_file_is_refused(tmp_path, capfd):
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"Conv2d_1a_3x3.conv.weight": _Marker()}))
    with pytest.raises(ValueError, match="neither a TorchScript module nor a state dict"):
        load_inception(evil, resolution=16)
    assert "the file ran code" not in capfd.readouterr().out
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not the FID Inception's weights"):
        load_inception(other, resolution=16)
