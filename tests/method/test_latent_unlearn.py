"""Latent feature unlearning (`atu latent-unlearn`, atu/latent/) against independent computations:
the direction, threshold and ROC-AUC on synthetic latents (numpy float64, a pairwise count), the
shift onto the threshold, MS-SSIM (a float64 numpy reference with explicit windows, closed forms,
pytorch-msssim where installed), the loss terms sample by sample, and the run: folder, frozen
mapping, bit-identical resume, command-line errors."""

import json
import math

import numpy as np
import pytest
import torch

from atu import checkpoint as ckpt
from atu.checkpoint.feedback_bundle import FeedbackBundle, images_to_uint8, save_bundle
from atu.cli import main as atu_main
from atu.gan.run import Schedule
from atu.latent import FeatureDirection, LatentUnlearnTrainer, latent_unlearning_losses, ms_ssim
from atu.latent.msssim import STANDARD_WEIGHTS, scale_weights, scales_for
from atu.latent.run import LatentConfig, latent_unlearn
from tiny_gans import killed_after_step, perturbed, save_pretrained, tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ---- the direction ------------------------------------------------------------------------------------


def _clouds(n_present=60, n_absent=140, dim=8, gap=3.0, seed=0):
    """Two Gaussian clouds whose means differ by `gap` along the first axis."""
    g = torch.Generator().manual_seed(seed)
    present = torch.randn(n_present, dim, generator=g) + torch.tensor([gap] + [0.0] * (dim - 1))
    absent = torch.randn(n_absent, dim, generator=g)
    w = torch.cat([present, absent])
    labels = torch.cat([torch.ones(n_present, dtype=torch.bool), torch.zeros(n_absent, dtype=torch.bool)])
    perm = torch.randperm(len(w), generator=g)
    return w[perm], labels[perm]


def _pairwise_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_the_direction_and_threshold_are_the_mean_difference_and_the_midpoint():
    w, labels = _clouds()
    d = FeatureDirection.fit(w, labels)
    x, y = w.double().numpy(), labels.numpy()
    z_e = x[y].mean(0) - x[~y].mean(0)
    u = z_e / np.linalg.norm(z_e)
    assert np.allclose(d.target.double().numpy(), z_e, atol=1e-6)
    assert math.isclose(d.threshold, 0.5 * ((x[y] @ u).mean() + (x[~y] @ u).mean()), abs_tol=1e-9)
    # the known answer: the clouds differ along the first axis, by 3
    assert abs(float(d.unit[0])) > 0.95 and abs(float(d.target[0]) - 3.0) < 0.5
    assert abs(d.threshold - 1.5) < 0.4
    proj = x @ u
    assert np.allclose(d.project(w).double().numpy(), proj, atol=1e-5)
    assert torch.equal(d.similar(w).bool(), torch.from_numpy(proj >= d.threshold))


def test_roc_auc_equals_the_pairwise_count_with_ties_as_halves():
    w, labels = _clouds(gap=1.0)
    d = FeatureDirection.fit(w, labels)
    expected = _pairwise_auc(d.project(w).double().numpy(), labels.numpy())
    assert 0.6 < expected < 1.0 and math.isclose(d.roc_auc(w, labels), expected, rel_tol=1e-12)
    # ties: latents on a grid along the direction give many equal projections
    grid = torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0])
    tied = torch.stack([grid, torch.zeros(8)], 1)
    marks = torch.tensor([False, False, True, False, True, True, False, True])
    dt = FeatureDirection(torch.tensor([1.0, 0.0]), 1.5)
    assert dt.roc_auc(tied, marks) == pytest.approx(_pairwise_auc(grid.double().numpy(), marks.numpy()), abs=1e-12)
    separated = FeatureDirection.fit(*_clouds(gap=50.0))
    assert separated.roc_auc(*_clouds(gap=50.0)) == 1.0


def test_the_shift_lands_exactly_on_the_threshold_and_keeps_the_orthogonal_part():
    w, labels = _clouds()
    d = FeatureDirection.fit(w, labels)
    w_hat = d.shift(w)
    u = d.unit
    assert torch.allclose(w_hat @ u, torch.full((len(w),), d.threshold), atol=1e-5)
    orthogonal = lambda v: v - (v @ u).unsqueeze(1) * u  # noqa: E731
    assert torch.allclose(orthogonal(w_hat), orthogonal(w), atol=1e-5)
    # a non-unit target with the same direction gives the same shift: only u matters
    assert torch.allclose(FeatureDirection(3 * d.target, d.threshold).shift(w), w_hat, atol=1e-5)


@pytest.mark.parametrize("labels", [torch.ones(5, dtype=torch.bool), torch.zeros(5, dtype=torch.bool)])
def test_a_direction_needs_both_kinds_of_latents(labels):
    with pytest.raises(ValueError, match="with and without the feature"):
        FeatureDirection.fit(torch.randn(5, 3), labels)


# ---- MS-SSIM ------------------------------------------------------------------------------------------


def _ms_ssim_numpy(x: np.ndarray, y: np.ndarray, data_range=2.0) -> np.ndarray:
    """Float64 MS-SSIM with explicit 11×11 windows at every valid position (no convolution), the
    same scale rule (as many scales as the window fits, first weights renormalised)."""
    half = np.arange(11) - 5.0
    g = np.exp(-(half**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    size = min(x.shape[-2:])
    levels = 1
    while levels < 5 and size // 2**levels >= 11:
        levels += 1
    weights = np.array(STANDARD_WEIGHTS[:levels])
    if levels < 5:
        weights = weights / weights.sum()
    out = np.ones(x.shape[:2])
    for level in range(levels):
        vx = np.lib.stride_tricks.sliding_window_view(x, (11, 11), axis=(2, 3))
        vy = np.lib.stride_tricks.sliding_window_view(y, (11, 11), axis=(2, 3))
        mx, my = (vx * window).sum((-2, -1)), (vy * window).sum((-2, -1))
        sxx = (vx * vx * window).sum((-2, -1)) - mx**2
        syy = (vy * vy * window).sum((-2, -1)) - my**2
        sxy = (vx * vy * window).sum((-2, -1)) - mx * my
        cs = ((2 * sxy + c2) / (sxx + syy + c2)).mean((-2, -1))
        lum = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
        term = cs if level < levels - 1 else (lum * (2 * sxy + c2) / (sxx + syy + c2)).mean((-2, -1))
        out *= np.maximum(term, 1e-6) ** weights[level]
        n, c, h, w_ = x.shape
        x = x[..., : h // 2 * 2, : w_ // 2 * 2].reshape(n, c, h // 2, 2, w_ // 2, 2).mean((3, 5))
        y = y[..., : h // 2 * 2, : w_ // 2 * 2].reshape(n, c, h // 2, 2, w_ // 2, 2).mean((3, 5))
    return out.mean(1)


def _related_pair(size, seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    y = (x + 0.4 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)
    return x, y


def test_scales_fit_the_image_and_weights_sum_to_one():
    assert scales_for(176) == 5 and scales_for(88) == 4 and scales_for(32) == 2 and scales_for(16) == 1
    assert scales_for(11) == 1
    with pytest.raises(ValueError, match="at least 11 px"):
        scales_for(10)
    for m in range(1, 5):
        assert math.isclose(sum(scale_weights(m)), 1.0)
    assert scale_weights(5) == STANDARD_WEIGHTS  # the published weights, as they are
    assert scale_weights(2) == pytest.approx((0.0448 / 0.3304, 0.2856 / 0.3304))


@pytest.mark.parametrize("size", [16, 32, 64])
def test_ms_ssim_matches_a_float64_reference_with_explicit_windows(size):
    x, y = _related_pair(size)
    ours = ms_ssim(x.double(), y.double()).numpy()
    assert np.allclose(ours, _ms_ssim_numpy(x.double().numpy(), y.double().numpy()), atol=1e-10)
    assert np.all((ours > 0.1) & (ours < 0.95))  # a real, non-trivial value
    assert torch.allclose(ms_ssim(x, y), torch.from_numpy(ours).float(), atol=1e-5)  # float32 agrees


def test_ms_ssim_is_one_for_identical_images_and_symmetric():
    x, y = _related_pair(32)
    assert torch.allclose(ms_ssim(x, x), torch.ones(len(x)), atol=1e-6)
    assert torch.equal(ms_ssim(x, y), ms_ssim(y, x))


def test_ms_ssim_of_flat_images_is_the_closed_form_luminance_term():
    # flat images: every variance and covariance is 0, so c·s = C2/C2 = 1 at every scale and only
    # the coarsest scale's luminance (2ab + C1)/(a² + b² + C1) remains, raised to its weight
    a, b = 0.3, -0.5
    x, y = torch.full((1, 3, 32, 32), a, dtype=torch.float64), torch.full((1, 3, 32, 32), b, dtype=torch.float64)
    c1 = (0.01 * 2) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    # 2ab + C1 < 0 here: the floor applies, as documented
    assert float(ms_ssim(x, y)) == pytest.approx(1e-6 ** scale_weights(2)[1])
    a, b = 0.3, 0.5
    x, y = torch.full_like(x, a), torch.full_like(y, b)
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** scale_weights(2)[1]
    assert float(ms_ssim(x, y)) == pytest.approx(expected, rel=1e-12)


def test_ms_ssim_agrees_with_pytorch_msssim_at_the_standard_five_scales():
    import pytorch_msssim  # the test extra installs it: a missing oracle fails, never skips

    x, y = _related_pair(176, n=2)
    theirs = pytorch_msssim.ms_ssim(x.double(), y.double(), data_range=2.0, size_average=False)
    assert torch.allclose(ms_ssim(x.double(), y.double()), theirs, atol=1e-10)


def test_ms_ssim_is_differentiable_and_refuses_bad_input():
    x, y = _related_pair(32)
    x.requires_grad_(True)
    (1 - ms_ssim(x, y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(x, y[:1])
    with pytest.raises(ValueError, match="do not fit"):
        ms_ssim(x, y, scales=3)


# ---- the loss -----------------------------------------------------------------------------------------


def test_the_loss_terms_equal_a_sample_by_sample_recomputation():
    f, _ = tiny_models()
    g = perturbed(f, 0.05, seed=1)
    gen = torch.Generator().manual_seed(3)
    w = f.style(torch.randn(6, 16, generator=gen)).detach()
    noise = f.make_noise(gen, batch=6)
    direction = FeatureDirection(torch.randn(16, generator=gen), 0.0)
    middle = direction.project(w).sort().values[2:4]
    direction.threshold = float(middle.mean())  # half on each side, none near the threshold
    terms = latent_unlearning_losses(g, f, w, noise, direction, alpha=3.0)

    u = (direction.target.double() / direction.target.double().norm()).numpy()
    recon = unlearn = percep = 0.0
    n_sim = 0
    with torch.no_grad():
        for i in range(6):
            wi = w[i].double().numpy()
            p = wi @ u
            present = p >= direction.threshold
            n_sim += present
            target_w = wi - (p - direction.threshold) * u if present else wi
            one_noise = [t[i : i + 1] for t in noise]
            gi, _ = g([w[i : i + 1]], input_is_latent=True, noise=one_noise)
            fi, _ = f([torch.from_numpy(target_w).float()[None]], input_is_latent=True, noise=one_noise)
            l1 = float((gi - fi).abs().mean())
            if present:
                unlearn += l1 / 6
                percep += (1 - _ms_ssim_numpy(gi.double().numpy(), fi.double().numpy())[0]) / 6
            else:
                recon += l1 / 6
    assert 0 < n_sim < 6
    assert float(terms["recon"]) == pytest.approx(recon, rel=1e-4)
    assert float(terms["unlearn"]) == pytest.approx(unlearn, rel=1e-4)
    assert float(terms["percep"]) == pytest.approx(percep, rel=1e-3, abs=1e-6)
    assert float(terms["loss"].detach()) == pytest.approx(3.0 * (unlearn + percep) + recon, rel=1e-4)
    assert float(terms["sim"]) == pytest.approx(n_sim / 6)


def test_g_equal_to_f_with_no_feature_latent_has_zero_loss():
    f, _ = tiny_models()
    w = f.style(torch.randn(4, 16)).detach()
    direction = FeatureDirection(torch.ones(16), 1e6)  # nothing reaches the threshold
    terms = latent_unlearning_losses(f, f, w, f.make_noise(batch=4), direction, alpha=3.0)
    assert float(terms["loss"].detach()) == 0.0 and float(terms["sim"]) == 0.0


# ---- the run ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """θ_G's checkpoint and a feedback bundle whose marks follow a direction in z (so in W too)."""
    root = tmp_path_factory.mktemp("latent_inputs")
    G, D = tiny_models()
    gen = root / "g.safetensors"
    save_pretrained(gen, G, D)
    z = torch.randn(40, 16, generator=torch.Generator().manual_seed(5))
    images = G.eval().sample(40, seed=5)
    feedback = root / "fb.safetensors"
    save_bundle(feedback, FeedbackBundle(z, images_to_uint8(images), z[:, 0] > 0.5))
    one_kind = root / "one_kind.safetensors"
    save_bundle(one_kind, FeedbackBundle(z, images_to_uint8(images), torch.zeros(40, dtype=torch.bool)))
    return {"gen": gen, "feedback": feedback, "one_kind": one_kind, "G": G}


CFG = LatentConfig(steps=5, batch_size=4, seed=2)
EVERY_2 = Schedule(log_every=1, sample_every=2, checkpoint_every=2)


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_writes_its_folder_trains_only_the_synthesis_network_and_records_the_direction(inputs, tmp_path):
    path = latent_unlearn(inputs["gen"], inputs["feedback"], tmp_path / "run", CFG, schedule=EVERY_2, progress=False)
    out = tmp_path / "run"
    for name in ("run.json", "direction.json", "checkpoint.safetensors", "log.jsonl", "samples/step_000002.png"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["config"] == CFG.to_dict() and run["stage"] == "latent_unlearn"
    assert 0.5 < run["direction"]["roc_auc"] <= 1.0 and run["direction"]["n_present"] > 0
    records = _log(out / "log.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert all(set(r) >= {"loss", "recon", "unlearn", "percep", "sim"} for r in records)
    trained = ckpt.load(path).generator("g_ema")
    before, after = inputs["G"].state_dict(), trained.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("style."))
    assert any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("style."))
    assert "d" in ckpt.load(path).state_dicts


def test_a_run_resumes_bit_identically_after_a_kill(inputs, tmp_path, monkeypatch):
    latent_unlearn(inputs["gen"], inputs["feedback"], tmp_path / "straight", CFG, schedule=EVERY_2, progress=False)
    killed_after_step(
        monkeypatch,
        LatentUnlearnTrainer,
        4,
        lambda: latent_unlearn(
            inputs["gen"], inputs["feedback"], tmp_path / "cut", CFG, schedule=EVERY_2, progress=False
        ),
    )
    assert ckpt.load_atu(tmp_path / "cut" / "checkpoint.safetensors").metadata["step"] == 2
    latent_unlearn(
        inputs["gen"], inputs["feedback"], tmp_path / "cut", CFG, resume=True, schedule=EVERY_2, progress=False
    )
    for name in ("checkpoint.safetensors",):
        a = ckpt.load_atu(tmp_path / "straight" / name).state_dicts
        b = ckpt.load_atu(tmp_path / "cut" / name).state_dicts
        assert a.keys() == b.keys()
        assert all(torch.equal(a[s][k], b[s][k]) for s in a for k in a[s])
    a = ckpt.load(tmp_path / "straight" / "model.safetensors").state_dict("g_ema")
    b = ckpt.load(tmp_path / "cut" / "model.safetensors").state_dict("g_ema")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _log(tmp_path / "straight" / "log.jsonl") == _log(tmp_path / "cut" / "log.jsonl")


def test_the_command_line_runs_and_reports_errors(inputs, tmp_path, capsys):
    def run(feedback: str, out, *flags: str) -> int:
        return atu_main(
            ["latent-unlearn", "--gen", str(inputs["gen"]), "--feedback", str(inputs[feedback]), "--out", str(out)]
            + [*flags, "--device", "cpu"]
        )

    out = tmp_path / "cli"
    assert run("feedback", out, "--steps", "2", "--batch", "4") == 0
    assert (out / "model.safetensors").is_file()
    assert run("feedback", out, "--steps", "2") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert run("one_kind", tmp_path / "x") == 2
    assert "no sample is marked undesired" in capsys.readouterr().err
    assert run("feedback", tmp_path / "y", "--alpha", "0") == 2
    assert "alpha" in capsys.readouterr().err


def test_the_python_api_trains_the_command_lines_latent_model_bit_for_bit(inputs, tmp_path):
    import atu
    from atu.checkpoint.feedback_bundle import load_bundle

    path = latent_unlearn(inputs["gen"], inputs["feedback"], tmp_path / "run", CFG, schedule=EVERY_2, progress=False)
    G, D = atu.load(inputs["gen"], device="cpu")
    before = [p.detach().clone() for p in G.parameters()]
    model = atu.unlearn(
        G, D, load_bundle(inputs["feedback"]), method="latent", steps=5, batch_size=4, seed=2, progress=False
    )
    for (name, a), b in zip(model.named_parameters(), ckpt.load(path).generator().parameters()):
        assert torch.equal(a.detach(), b), name
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))  # G itself is left as it was
