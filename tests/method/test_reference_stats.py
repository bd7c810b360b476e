"""Reference statistics computed once (`atu fid-stats`, eval/reference_stats.py) and used by
`atu evaluate --real-stats`: the same numbers as evaluating from the images, and every file that
does not fit the evaluation refused before any work."""

import json
import re

import numpy as np
import pytest
import torch

from atu.classifiers import LeNet, save_classifier
from atu.cli import main as atu_main
from atu.eval.reference_stats import ReferenceStats, load_stats, save_stats
from tiny_gans import save_pretrained, tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    gen = save_pretrained(root / "g.safetensors", *tiny_models(seed=0, width=4))
    judges = {}
    for name, seed in (("judge", 1), ("other_judge", 2)):
        torch.manual_seed(seed)
        judges[name] = root / f"{name}.safetensors"
        save_classifier(judges[name], LeNet(num_classes=10, resolution=16).eval(), {})
    return {"root": root, "gen": gen, **judges}


def _stats(files, out, *extra, judge="judge", resolution=16):
    return atu_main(
        ["fid-stats", "--data", "digits", "--classifier", str(files[judge]), "--resolution", str(resolution)]
        + ["--n-fid", "60", "--seed", "4", "--device", "cpu", "--out", str(out), *extra]
    )


def _evaluate(files, out, *extra):
    return atu_main(
        ["evaluate", "--gen", str(files["gen"]), "--classifier", str(files["judge"]), "--class", "1"]
        + ["--n-bank", "30", "--n-fid", "60", "--seed", "4", "--device", "cpu", "--out", str(out), *extra]
    )


def test_evaluating_from_the_statistics_gives_the_numbers_of_evaluating_from_the_images(files, tmp_path):
    stats = tmp_path / "no1.npz"
    assert _stats(files, stats, "--exclude-class", "1") == 0
    loaded = load_stats(stats)
    assert loaded.record["excluded_classes"] == [1] and loaded.record["n_images"] == 1797 - 182
    assert loaded.rows.shape == (60, 128) and loaded.mu.shape == (128,) and loaded.sigma.dtype == torch.float64
    assert _evaluate(files, tmp_path / "from_images.json") == 0
    assert _evaluate(files, tmp_path / "from_stats.json", "--real-stats", str(stats)) == 0
    a = json.loads((tmp_path / "from_images.json").read_text())["pretrained"]
    b = json.loads((tmp_path / "from_stats.json").read_text())
    assert b["pretrained"] == a  # FID, KID, precision, recall, counts
    assert b["inputs"]["real_stats"]["sha256"] and b["inputs"]["data"] == "digits"


def test_a_pytorch_fid_file_gives_fid_alone_and_only_in_inception_features(files, tmp_path, capsys):
    stats = tmp_path / "pytorch_fid.npz"
    # as pytorch-fid's save_fid_stats writes it: np.savez_compressed(path, mu=m1, sigma=s1), m1 the
    # np.mean of its float32 activations (float32), s1 their np.cov (float64)
    activations = np.random.default_rng(0).normal(size=(300, 128)).astype(np.float32)
    np.savez_compressed(stats, mu=np.mean(activations, axis=0), sigma=np.cov(activations, rowvar=False))
    assert load_stats(stats).record is None and load_stats(stats).rows is None
    assert _evaluate(files, tmp_path / "m.json", "--real-stats", str(stats)) == 2
    assert "pass --inception FILE" in capsys.readouterr().err and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("other_judge", "computed in other features"),
        ("with_the_class", "its images still hold class 1"),
        ("resolution", "computed at 32 px, the generator makes 16 px"),
    ],
)
def test_statistics_that_do_not_fit_the_evaluation_are_refused(files, tmp_path, capsys, case, message):
    stats = tmp_path / f"{case}.npz"
    if case == "other_judge":
        assert _stats(files, stats, "--exclude-class", "1", judge="other_judge") == 0
    elif case == "with_the_class":
        assert _stats(files, stats) == 0
    else:
        assert _stats(files, stats, "--exclude-class", "1", resolution=32) == 0
    capsys.readouterr()
    assert _evaluate(files, tmp_path / "m.json", "--real-stats", str(stats)) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text("not an archive"), "not a numpy .npz archive"),
        (lambda p: np.savez(p, mu=np.zeros(3)), "no mu and sigma"),
        (lambda p: np.savez(p, mu=np.zeros(3), sigma=np.eye(4)), "are not [D] and [D, D]"),
        (lambda p: np.savez(p, mu=np.full(3, np.nan), sigma=np.eye(3)), "NaN or infinite"),
        (lambda p: np.savez(p, mu=np.zeros(3), sigma=np.eye(3), rows=np.zeros((5, 2))), "rows (5, 2)"),
        (
            lambda p: np.savez(p, mu=np.zeros(3), sigma=np.eye(3), record=np.array([object()], dtype=object)),
            "not a numpy .npz archive without pickles",
        ),
    ],
)
def test_a_broken_statistics_file_is_refused_naming_what_is_wrong(tmp_path, write, message):
    path = tmp_path / "s.npz"
    write(path)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_stats(path)


def _deep_record():
    return np.array("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    "write, message",
    [
        # a negative-definite sigma gave FID 0.0 for every model, a non-symmetric one FID 5752, mu = 1e300 inf
        (lambda p: np.savez(p, mu=np.zeros(3), sigma=-np.eye(3)), "sigma has a negative eigenvalue (-1"),
        (lambda p: np.savez(p, mu=np.zeros(3), sigma=np.triu(np.ones((3, 3)))), "sigma is not symmetric"),
        (lambda p: np.savez(p, mu=np.full(3, 1e300), sigma=np.eye(3)), "too large for FID to be finite"),
        (lambda p: np.savez(p, mu=np.array(["a", "b"]), sigma=np.eye(2)), "mu holds <U1 values, not numbers"),
        (lambda p: np.savez(p, mu=np.zeros(3), sigma=np.eye(3), record=_deep_record()), "its record is not JSON"),
        (lambda p: p.write_bytes(_savez_bytes(mu=np.zeros(3), sigma=np.eye(3))[:300]), "not a numpy .npz archive"),
    ],
)
def test_statistics_that_would_give_a_meaningless_fid_are_refused(tmp_path, write, message):
    path = tmp_path / "s.npz"
    write(path)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_stats(path)


def _savez_bytes(**arrays):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_compressed_archive_that_expands_beyond_any_statistics_file_is_refused_unread(tmp_path, monkeypatch):
    from atu.eval import reference_stats

    monkeypatch.setattr(reference_stats, "MAX_EXPANDED_BYTES", 1_000_000)  # the real bound is 2 GiB
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, mu=np.zeros(3), sigma=np.eye(3), rows=np.zeros((1000, 300)))  # 2.4 MB expanded
    assert path.stat().st_size < 20_000
    with pytest.raises(ValueError, match="would expand to 2,400,"):
        load_stats(path)


def test_a_real_covariance_passes_with_its_rounding(tmp_path):
    """np.cov of rank-deficient features (fewer images than dimensions) has zero eigenvalues that
    rounding puts a little below zero (about 1e-16 of the largest): such a file is valid and loads;
    one whose eigenvalue is 1e-4 of the largest below zero is not."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 64)))
    for lowest, loads in ((-1e-12, True), (-1e-4, False)):
        sigma = (q * np.linspace(lowest, 1.0, 64)) @ q.T
        sigma = (sigma + sigma.T) / 2
        np.savez(tmp_path / "s.npz", mu=np.zeros(64), sigma=sigma)
        if loads:
            assert load_stats(tmp_path / "s.npz").sigma.shape == (64, 64)
        else:
            with pytest.raises(ValueError, match="sigma has a negative eigenvalue"):
                load_stats(tmp_path / "s.npz")
    x = np.random.default_rng(0).normal(size=(20, 64))  # and np.cov of 20 images in 64 dimensions
    np.savez(tmp_path / "cov.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    assert load_stats(tmp_path / "cov.npz").sigma.shape == (64, 64)


def test_a_saved_file_reads_back_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 5, generator=g, dtype=torch.float64)
    stats = ReferenceStats(x.mean(0), torch.cov(x.T), torch.randn(7, 5, generator=g), {"data": "digits"})
    save_stats(tmp_path / "s.npz", stats)
    back = load_stats(tmp_path / "s.npz")
    assert torch.equal(back.mu, stats.mu) and torch.equal(back.sigma, stats.sigma)
    assert torch.equal(back.rows, stats.rows) and back.record == {"data": "digits"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]  # written atomically, nothing left over


def test_damaged_statistics_files_load_or_are_refused_naming_the_file(tmp_path):
    """A fuzz over a real statistics file (truncated, bit-flipped, shuffled): ValueError naming the
    file (exit 2 from the commands) or statistics that pass every check; no other exception."""
    import random

    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=g, dtype=torch.float64)
    good = tmp_path / "stats.npz"
    save_stats(good, ReferenceStats(x.mean(0), torch.cov(x.T), torch.randn(10, 8, generator=g), {"data": "digits"}))
    data = good.read_bytes()
    rng = random.Random("stats")
    refused = 0
    for i in range(60):
        damaged = bytearray(data)
        kind = i % 3
        if kind == 0:
            damaged = damaged[: rng.randrange(1, len(data))]
        elif kind == 1:
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        else:
            cut = rng.randrange(1, len(data))
            damaged = damaged[cut:] + damaged[:cut]
        path = tmp_path / f"damaged-{i}.npz"
        path.write_bytes(bytes(damaged))
        try:
            load_stats(path)
        except ValueError as err:
            assert str(path) in str(err)
            refused += 1
    assert refused >= 40
