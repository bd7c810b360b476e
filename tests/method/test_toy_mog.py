"""`atu demo --toy mog`: the end-to-end run through the command line (the fast whole-method test),
and its parts against oracles worked out independently: the labeller on hand-placed points, the
metrics on samples with known answers, the Fisher against a closed form and a float64 loop."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from atu.stages.fisher import batched_fisher
from atu.toy import metrics as M
from atu.toy import run_mog_demo
from atu.toy.config import MogConfig
from atu.toy.data import mode_centres, nearest_mode, undesired_mask
from atu.toy.models import Discriminator, Generator, latents
from atu.toy.training import GanSchedule

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "atu.cli", "demo", "--toy", "mog", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---- the whole method, through the command line ------------------------------------------------------


def test_cli_removes_two_modes_keeps_the_six_others_and_writes_its_files(tmp_path):
    out = tmp_path / "toy"
    run = _cli("--out", str(out), "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "report.md" in run.stdout
    for name in ("config.json", "metrics.json", "scatter.png", "report.md", "timings.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["undesired_modes"] == [0, 1] and metrics["n_samples"] == 20_000
    assert metrics["pretrained_covers_all_modes"]
    before = metrics["generators"]["pretrained"]["shares"]
    assert all(s >= 0.05 for s in before)  # θ_G makes all 8 modes, the undesired included
    assert all(metrics["removed"][f"mode {i}"] >= 0.99 for i in (0, 1)) and metrics["removed"]["overall"] >= 0.99
    assert set(metrics["covered"]) == {f"mode {j}" for j in range(2, 8)} and all(metrics["covered"].values())
    assert metrics["quality"] >= 0.8 and metrics["passed"]
    # the adapted models of stage 1 make (mostly) the undesired modes
    for j in (1, 2):
        shares = metrics["generators"][f"adapted {j}"]["shares"]
        assert shares[0] + shares[1] >= 0.8
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["seed"] == 0 and config["device"] == "cpu"
    assert (out / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASSED" in (out / "report.md").read_text()

    # a finished run is re-reported, not redone; another seed in the same folder is refused
    again = _cli("--out", str(out), "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics
    other = _cli("--out", str(out), "--seeds", "1", "--no-progress", cwd=tmp_path)
    assert other.returncode == 2 and "other settings" in other.stderr


def test_reference_ops_mode_meets_the_same_targets_and_is_recorded(tmp_path):
    """--ops reference: every op through atu_ext.reference, the penalties through torch._foreach."""
    out = tmp_path / "toy-ref"
    run = _cli("--out", str(out), "--no-progress", "--ops", "reference", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["passed"] and metrics["quality"] >= 0.8
    assert all(metrics["removed"][f"mode {i}"] >= 0.99 for i in (0, 1)) and all(metrics["covered"].values())
    assert metrics["provenance"]["atu_ext"]["ops"] == "reference"
    assert json.loads((out / "config.json").read_text())["ops"] == "reference"
    assert "reference ops" in (out / "report.md").read_text()


# ---- the labeller ---------------------------------------------------------------------------------------


def test_mode_centres_sit_on_the_circle_counter_clockwise_from_the_x_axis():
    c = mode_centres()
    r2 = math.sqrt(2)
    want = [(2, 0), (r2, r2), (0, 2), (-r2, r2), (-2, 0), (-r2, -r2), (0, -2), (r2, -r2)]
    assert torch.allclose(c, torch.tensor(want, dtype=torch.float32), atol=1e-6)


def test_the_labeller_marks_points_whose_nearest_mode_is_undesired():
    def at(deg, r=1.0):
        return (r * math.cos(math.radians(deg)), r * math.sin(math.radians(deg)))

    # the border between modes 0 (0°) and 1 (45°) is the ray at 22.5°; between 1 and 2 at 67.5°
    points = torch.tensor(
        [(2.0, 0.0), (1.5, 1.3), at(20), at(25), at(66), at(69), (0.0, -2.2), (-3.0, 0.1), at(-20, 2.5), at(-25, 2.5)]
    )
    assert nearest_mode(points, mode_centres()).tolist() == [0, 1, 0, 1, 1, 2, 6, 4, 0, 7]
    marked = undesired_mask(points, mode_centres(), (0, 1)).tolist()
    assert marked == [True, True, True, True, True, False, False, False, True, False]


# ---- the metrics ----------------------------------------------------------------------------------------


def test_mode_shares_count_samples_within_the_radius_only():
    c = mode_centres()
    samples = torch.cat(
        [
            c[0].repeat(10, 1),  # 10 exactly on mode 0
            c[2] + torch.tensor([0.2, 0.0]).repeat(30, 1),  # 30 at 0.2 from mode 2: inside r = 0.25
            c[3] + torch.tensor([0.0, -0.3]).repeat(5, 1),  # 5 at 0.3 from mode 3: outside
            torch.zeros(55, 2),  # 55 at the origin: no mode
        ]
    )
    shares = M.mode_shares(samples, c, 0.25)
    assert shares == pytest.approx([0.10, 0, 0.30, 0, 0, 0, 0, 0])
    assert M.quality(shares, (2, 3, 4, 5, 6, 7)) == pytest.approx(0.30)


def test_removal_and_coverage_follow_their_documented_rules():
    before = [0.10, 0.20, 0.10, 0.10, 0.05, 0.10, 0.0, 0.35]
    after = [0.001, 0.0, 0.03, 0.02, 0.019, 0.12, 0.01, 0.4]
    removed = M.removal(before, after, (0, 1))
    assert removed["mode 0"] == pytest.approx(0.99) and removed["mode 1"] == 1.0
    assert removed["overall"] == pytest.approx(1 - 0.001 / 0.30)
    assert M.removal(before, after, (6,))["mode 6"] is None  # nothing there before: undefined
    covered = M.coverage(before, after, (2, 3, 4, 5, 6, 7))
    # 3% of samples and 30% of its old share: covered; 2% is only 20% of the old 10%: not; 1.9% < 2%: not
    assert covered == {
        "mode 2": True,
        "mode 3": False,
        "mode 4": False,
        "mode 5": True,
        "mode 6": False,
        "mode 7": True,
    }


# ---- the Fisher -----------------------------------------------------------------------------------------


class _LinearG(nn.Module):
    def __init__(self, z_dim):
        super().__init__()
        self.z_dim = z_dim
        self.lin = nn.Linear(z_dim, 2)

    def forward(self, z):
        return self.lin(z)


class _LinearD(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x):
        return self.lin(x)[:, 0]


def test_fisher_of_a_linear_generator_and_discriminator_matches_the_closed_form():
    # logit = v·(W z + b) + c  ⇒  ∂/∂W_ij = v_i z_j, ∂/∂b_i = v_i  ⇒  F_W = v_i² mean(z_j²), F_b = v²
    torch.manual_seed(0)
    G, D = _LinearG(3), _LinearD()
    n, seed = 50, 7
    z = latents(n, 3, torch.Generator().manual_seed(seed)).double()
    v = D.lin.weight.detach().double()[0]
    fisher = batched_fisher(G, D, latents(n, G.z_dim, torch.Generator().manual_seed(seed)))
    assert torch.allclose(fisher["lin.weight"].double(), v[:, None] ** 2 * z.square().mean(0)[None, :], rtol=1e-5)
    assert torch.allclose(fisher["lin.bias"].double(), v**2, rtol=1e-5)


def test_fisher_of_the_mlp_matches_a_float64_loop_of_single_sample_gradients():
    torch.manual_seed(1)
    G, D = Generator(z_dim=4, hidden=16), Discriminator(hidden=16)
    n, seed = 20, 3
    fisher = batched_fisher(G, D, latents(n, G.z_dim, torch.Generator().manual_seed(seed)))
    G64, D64 = G.double(), D.double()  # (after: batched_fisher ran on the float32 models)
    z = latents(n, 4, torch.Generator().manual_seed(seed)).double()
    params = list(G64.parameters())
    sums = [torch.zeros_like(p) for p in params]
    for s in range(n):
        grads = torch.autograd.grad(D64(G64(z[s : s + 1]))[0], params)
        for acc, g in zip(sums, grads):
            acc += g.square()
    for (name, _), acc in zip(G64.named_parameters(), sums):
        assert torch.allclose(fisher[name].double(), acc / n, rtol=1e-4, atol=1e-10), name


# ---- determinism and argument checks --------------------------------------------------------------------


def _small(seed=0):
    return MogConfig(
        seed=seed,
        pretrain=GanSchedule(steps=60, batch=64, lr=2e-3, r1=0.1),
        adapt=GanSchedule(steps=10, batch=64),
        unlearn=GanSchedule(steps=10, batch=64),
        n_feedback=300,
        fisher_samples=16,
        n_eval=1000,
        n_plot=200,
    )


def test_the_same_seed_gives_the_same_metrics(tmp_path):
    torch.manual_seed(123)  # the caller's global RNG state must not matter
    first = run_mog_demo(tmp_path / "a", seed=0, progress=False, config=_small())
    torch.manual_seed(456)
    second = run_mog_demo(tmp_path / "b", seed=0, progress=False, config=_small())
    strip = lambda m: {k: v for k, v in m.items() if k not in ("report", "out", "reused", "provenance")}  # noqa: E731
    assert strip(first) == strip(second)
    assert strip(json.loads((tmp_path / "a" / "metrics.json").read_text())) == strip(first)
    third = run_mog_demo(tmp_path / "c", seed=1, progress=False, config=_small())
    assert strip(third)["generators"] != strip(first)["generators"]


def test_bad_arguments_and_occupied_folders_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        run_mog_demo(tmp_path / "neg", seed=-1, progress=False)
    with pytest.raises(ValueError, match="undesired modes"):
        run_mog_demo(tmp_path / "bad", progress=False, config=MogConfig(undesired=(0, 8)))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            run_mog_demo(tmp_path / "gpu", device="cuda", progress=False)
    assert not any(tmp_path.iterdir())
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no toy run"):
        run_mog_demo(busy, progress=False)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
