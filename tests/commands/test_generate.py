"""`atu generate`: the images every atu command draws for the same seeds (a report's grid is
G.sample(16, seed)), written as PNG files, a grid and a record; bad requests refused before work."""

import json

import numpy as np
import pytest
from PIL import Image

from atu import checkpoint
from atu.cli import main as atu_main
from atu.commands.generate import parse_seeds
from atu.util.images import to_uint8
from tiny_gans import save_pretrained, tiny_models


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return save_pretrained(tmp_path_factory.mktemp("gen") / "g.safetensors", *tiny_models(seed=0))


def _png(path):
    return np.asarray(Image.open(path))


def test_n_samples_of_a_seed_are_the_report_grids_images(gen, tmp_path):
    out = tmp_path / "grid"
    assert (
        atu_main(["generate", "--gen", str(gen), "--seed", "3", "--n", "16", "--device", "cpu", "--out", str(out)]) == 0
    )
    G = checkpoint.load(gen).generator("g_ema").eval()
    expected = to_uint8(G.sample(16, seed=3))  # what study/report.py draws for seed 3
    for i in range(16):
        assert np.array_equal(_png(out / f"seed0003_{i:05d}.png"), expected[i]), i
    record = json.loads((out / "generate.json").read_text())
    assert record["seed"] == 3 and record["n"] == 16 and record["generator"]["sha256"]
    assert (out / "grid.png").is_file()


def test_one_image_per_seed_is_each_seeds_first_sample(gen, tmp_path):
    out = tmp_path / "seeds"
    assert (
        atu_main(
            ["generate", "--gen", str(gen), "--seeds", "0-2,7", "--truncation", "0.7", "--device", "cpu"]
            + ["--out", str(out)]
        )
        == 0
    )
    G = checkpoint.load(gen).generator("g_ema").eval()
    for s in (0, 1, 2, 7):
        expected = to_uint8(G.sample(1, seed=s, truncation=0.7))[0]
        assert np.array_equal(_png(out / f"seed{s:04d}.png"), expected), s
    assert json.loads((out / "generate.json").read_text())["seeds"] == [0, 1, 2, 7]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0-3", "--seed", "1", "--n", "2"], "either --seeds 0-63 or --seed S --n N"),
        (["--seed", "1"], "either --seeds"),
        (["--seeds", "5-2"], "'5-2' is not a range of seeds"),
        (["--seeds", "x"], "'x' is not a seed"),
        (["--seeds", "0-3", "--truncation", "0"], "--truncation must be in (0, 1]"),
    ],
)
def test_bad_requests_are_refused_before_any_work(gen, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert atu_main(["generate", "--gen", str(gen), "--out", str(out), "--device", "cpu", *argv]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_seed_lists_and_ranges():
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10] and parse_seeds("7") == [7]
