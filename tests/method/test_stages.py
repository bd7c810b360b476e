"""Stage 1 (`atu adapt`) and stage 2 (`atu unlearn`) on tiny models, against independent oracles:
the Fisher against a float64 per-sample autograd loop, the penalties' gradients against autograd of
their formulas, γ = 0 against a plain trainer; plus exact resume, the non-finite stop and every
input error (with nothing written)."""

import copy
import json
import os
import signal
from types import SimpleNamespace

import pytest
import torch

import atu_ext
from atu import checkpoint as ckpt
from atu import layouts
from atu.checkpoint.feedback_bundle import save_bundle
from atu.cli import main as atu_main
from atu.gan.run import NonFiniteLossError, Schedule
from atu.gan.sampling import Batches, StreamSampler
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.models import Generator, narrow_channels
from atu.stages.adapt import AdaptConfig, EWCGradient, adapt
from atu.stages.fisher import anchored_names, empirical_fisher, fisher_samples
from atu.stages.unlearn import DecoupledRepulsion, RepulsionGradient, UnlearnConfig, unlearn
from atu_ext import reference
from tiny_gans import TRAIN, disc_bundle, killed_after_step, perturbed, save_pretrained, tiny_models

CH = narrow_channels(16, 8)
NO_EMA = TrainConfig(batch_size=4, d_reg_every=2, g_reg_every=2, ema_half_life_kimg=0)  # g_ema = G
EVERY_2 = Schedule(log_every=1, sample_every=2, checkpoint_every=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tensors(path):
    c = ckpt.load_atu(path)
    return {f"{s}/{k}": v for s, sd in c.state_dicts.items() for k, v in sd.items()}


def _assert_same_files(a, b):
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_batch_stream_spans_epochs_so_a_few_negatives_fill_a_batch():
    stream = StreamSampler(3, 4, seed=0)
    drawn = torch.cat([stream.next() for _ in range(3)])  # 12 indices: 4 epochs of 3
    assert torch.bincount(drawn, minlength=3).tolist() == [4, 4, 4]
    state, following = stream.state(), stream.next()
    again = StreamSampler(3, 4, seed=0)
    again.load_state(state)
    assert torch.equal(again.next(), following)


# ---- the Fisher ----------------------------------------------------------------------------------------


def _fisher_oracle(G, D, z, noise, log_likelihood=False):
    """float64 copies, one sample at a time, .backward() into .grad, squares summed by hand."""
    G64, D64 = copy.deepcopy(G).double(), copy.deepcopy(D).double()
    for p in D64.parameters():
        p.requires_grad_(False)
    total = {n: torch.zeros_like(p) for n, p in G64.named_parameters()}
    for s in range(z.shape[0]):
        G64.zero_grad(set_to_none=True)
        img, _ = G64([z[s : s + 1].double()], noise=[t[s : s + 1].double() for t in noise])
        logit = D64(img).reshape(())
        out = torch.nn.functional.logsigmoid(logit) if log_likelihood else logit
        out.backward()
        for n, p in G64.named_parameters():
            total[n] += p.grad**2
    return {n: t / z.shape[0] for n, t in total.items()}


@pytest.mark.parametrize("output", ["logit", "log_likelihood"])
def test_the_fisher_is_the_mean_squared_per_sample_gradient(inputs, output):
    z, noise = fisher_samples(inputs.G, 3, seed=5)
    fisher = empirical_fisher(inputs.G, inputs.D, z, noise, output=output, layers="all")
    want = _fisher_oracle(inputs.G, inputs.D, z, noise, log_likelihood=output == "log_likelihood")
    assert fisher.keys() == want.keys()
    for name, f in fisher.items():
        assert f.dtype == torch.float32
        torch.testing.assert_close(f.double(), want[name], rtol=2e-3, atol=1e-7 * float(want[name].abs().max()) + 1e-30)
    assert sum(float(f.sum()) for f in fisher.values()) > 0
    # G's and D's requires_grad flags are left as they were
    assert all(p.requires_grad for p in inputs.G.parameters()) and all(p.requires_grad for p in inputs.D.parameters())


def _styled_conv_parameters(layout):
    """From the rosinality layout alone: StyledConv modules are the ones with a noise input; the
    authors' Fisher takes those after the first (4×4) one, conv1."""
    params = [e.name for e in layouts.load(layout) if e.kind == "parameter"]
    styled = {n[: -len(".noise.weight")] for n in params if n.endswith(".noise.weight")}
    return params, [n for n in params if any(n.startswith(m + ".") for m in styled - {"conv1"})]


def test_the_conv_restriction_zeros_exactly_the_non_styledconv_tensors(inputs):
    all_params, wanted = _styled_conv_parameters("G32")
    G32 = Generator(32, style_dim=128, n_mlp=8, channels=narrow_channels(32, 4))  # the layout's names, narrow
    assert [n for n, _ in G32.named_parameters()] == all_params
    assert anchored_names(G32, "conv") == wanted and anchored_names(G32, "all") == all_params

    z, noise = fisher_samples(inputs.G, 2, seed=1)
    full = empirical_fisher(inputs.G, inputs.D, z, noise, layers="all")
    conv = empirical_fisher(inputs.G, inputs.D, z, noise, layers="conv")
    for name, f in conv.items():
        if name.startswith("convs."):
            torch.testing.assert_close(f, full[name], rtol=1e-6, atol=0)
        else:
            assert not f.any(), name
    assert any(conv[n].any() for n in conv if n.startswith("convs."))
    assert {n for n in conv if not n.startswith("convs.")} >= {
        "style.1.weight",
        "input.input",
        "conv1.conv.weight",
        "to_rgb1.bias",
        "to_rgbs.0.conv.weight",
    }


# ---- stage 1 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", ["all", "conv"])
def test_the_ewc_hook_adds_the_gradient_of_half_lambda_f_squared_distance(inputs, layers):
    G = perturbed(inputs.G, 0.01, seed=3)  # θ ≠ θ_G
    anchor = dict(inputs.G.named_parameters())
    g = torch.Generator().manual_seed(4)
    fisher = {n: torch.rand(p.shape, generator=g) * 1e-6 for n, p in G.named_parameters()}
    lam = 5e8
    names = anchored_names(G, layers)
    hook = EWCGradient(G, {n: a.detach() for n, a in anchor.items()}, fisher, lam, names)
    before = {n: torch.randn(p.shape, generator=g) for n, p in G.named_parameters()}  # the adversarial gradient
    for n, p in G.named_parameters():
        p.grad = before[n].clone()
    logged = hook(G)

    theta = {n: p.detach().double().requires_grad_(True) for n, p in G.named_parameters() if n in names}
    penalty = (
        lam / 2 * sum((fisher[n].double() * (t - anchor[n].detach().double()) ** 2).sum() for n, t in theta.items())
    )
    grads = dict(zip(theta, torch.autograd.grad(penalty, list(theta.values()))))
    assert logged["ewc"] == pytest.approx(float(penalty.detach()), rel=1e-4)
    for n, p in G.named_parameters():
        added = (p.grad - before[n]).double()
        if n in grads:
            torch.testing.assert_close(added, grads[n], rtol=1e-4, atol=1e-5 * float(grads[n].abs().max()) + 1e-6)
        else:
            assert torch.equal(p.grad, before[n]), n  # untouched outside the layers


def _anchored_distance(theta_n_path, theta_g, fisher_path):
    fisher = ckpt.load_atu(fisher_path).state_dicts["fisher"]
    g_ema = ckpt.load_atu(theta_n_path).state_dicts["g_ema"]
    anchored = free = 0.0
    for n, p in theta_g.named_parameters():
        d2 = float((g_ema[n] - p.detach()).square().sum())
        if fisher[n].any():
            anchored += d2
        else:
            free += d2
    return anchored, free


def test_stage_1_with_a_huge_lambda_stays_at_theta_g_while_lambda_zero_moves_away(inputs, tmp_path):
    moved = {}
    for lam in (0.0, 1e14):
        cfg = AdaptConfig(k=1, steps=6, lam=lam, fisher_samples=4, fisher_layers="conv", train=NO_EMA)
        (path,) = adapt(inputs.gen, inputs.feedback, tmp_path / f"lam{lam:g}", cfg, schedule=EVERY_2, progress=False)
        moved[lam] = _anchored_distance(path, inputs.G, path.parent / "fisher.safetensors")
        recorded = ckpt.load_atu(path).metadata["moved_from_theta_g"]  # what atu adapt reports
        assert recorded["anchored"] == pytest.approx(moved[lam][0] ** 0.5, rel=1e-6, abs=1e-12)
        assert recorded["free"] == pytest.approx(moved[lam][1] ** 0.5, rel=1e-6)
        assert recorded["all"] == pytest.approx(sum(moved[lam]) ** 0.5, rel=1e-6)
    assert moved[0.0][0] > 0
    assert moved[1e14][0] < 0.01 * moved[0.0][0]  # anchored tensors held at θ_G
    assert moved[1e14][1] > 0.5 * moved[0.0][1]  # the others still adapt


def test_stage_1_writes_k_adapted_models_their_fisher_and_the_configuration(inputs, tmp_path):
    out = tmp_path / "adapt"
    cfg = AdaptConfig(k=2, steps=2, fisher_samples=3, train=TRAIN, seed=7)
    paths = adapt(inputs.gen, inputs.feedback, out, cfg, schedule=EVERY_2, progress=False)
    assert paths == [out / "model_0" / "model.safetensors", out / "model_1" / "model.safetensors"]
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["k"] == 2 and run["config"]["lam"] == 5e8 and run["n_negatives"] == 5
    assert run["inputs"]["gen"]["sha256"] and run["inputs"]["feedback"]["sha256"]
    models = [ckpt.load_atu(p) for p in paths]
    assert [m.metadata["run"]["seed"] for m in models] == [7, 8] and models[0].metadata["step"] == 2
    assert set(models[0].state_dicts) == {"g_ema", "d"}
    assert not torch.equal(
        models[0].state_dicts["g_ema"]["convs.0.conv.weight"], models[1].state_dicts["g_ema"]["convs.0.conv.weight"]
    )  # different seeds
    assert all("ewc" in r for r in _log(out / "model_0" / "log.jsonl"))
    assert (out / "model_1" / "samples" / "step_000002.png").is_file()


def test_stage_1_resumes_bit_identically_after_ctrl_c_skipping_the_finished_model(inputs, tmp_path, monkeypatch):
    cfg = AdaptConfig(k=2, steps=4, fisher_samples=3, train=TRAIN)
    adapt(inputs.gen, inputs.feedback, tmp_path / "straight", cfg, schedule=EVERY_2, progress=False)

    real_step, calls = StyleGAN2Trainer.train_step, []

    def ctrl_c_in_model_1(self, real):
        calls.append(self.step)
        if len(calls) == 6:  # model_0 ran 4 steps; this is model_1's second
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, real)

    monkeypatch.setattr(StyleGAN2Trainer, "train_step", ctrl_c_in_model_1)
    with pytest.raises(KeyboardInterrupt):
        adapt(inputs.gen, inputs.feedback, tmp_path / "cut", cfg, schedule=EVERY_2, progress=False)
    cut = tmp_path / "cut"
    assert ckpt.load_atu(cut / "model_1" / "checkpoint.safetensors").metadata["step"] == 2
    assert not (cut / "model_1" / "model.safetensors").exists()
    finished = (cut / "model_0" / "model.safetensors").read_bytes()

    calls.clear()
    adapt(inputs.gen, inputs.feedback, cut, cfg, resume=True, schedule=EVERY_2, progress=False)
    assert calls == [2, 3]  # model_0 skipped, model_1 continued from step 2
    assert (cut / "model_0" / "model.safetensors").read_bytes() == finished
    for j in range(2):
        for name in ("checkpoint.safetensors", "model.safetensors", "fisher.safetensors"):
            _assert_same_files(tmp_path / "straight" / f"model_{j}" / name, cut / f"model_{j}" / name)
    assert [r["step"] for r in _log(cut / "model_1" / "log.jsonl")] == [1, 2, 3, 4]


# ---- stage 2 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["el2", "il2", "nl2"])
@pytest.mark.parametrize("reduction", ["tensor_mean", "sum"])
def test_the_repulsion_hook_adds_gamma_times_the_gradient_of_the_reference_formula(inputs, kind, reduction):
    G = perturbed(inputs.G, 0.01, seed=3)
    refs = [[p.detach().clone() for p in perturbed(inputs.G, 0.05, seed=20 + j).parameters()] for j in range(2)]
    params = list(G.parameters())
    refs64 = [[t.double() for t in ref] for ref in refs]
    with torch.no_grad():
        d = float(reference.sq_dist([p.double() for p in params], refs64, reduction))
    alpha, gamma = 0.7 / d, 3.0  # exp(−α d) well inside (0, 1)
    hook = RepulsionGradient(atu_ext.Repulsion(params, refs, kind=kind, alpha=alpha, reduction=reduction), gamma)
    for p in params:
        p.grad = None
    logged = hook(G)

    theta = [p.detach().double().requires_grad_(True) for p in params]
    formula = {
        "el2": lambda: reference.repulsion_el2(theta, refs64, alpha, reduction),
        "il2": lambda: reference.repulsion_il2(theta, refs64, reduction),
        "nl2": lambda: reference.repulsion_nl2(theta, refs64, reduction),
    }[kind]()
    want = torch.autograd.grad(gamma * formula, theta)
    assert logged["repulsion"] == pytest.approx(float(formula.detach()), rel=1e-4)
    # Each tensor's gradient is c_t·(θ_t − m_t), m the references' mean. In float32, θ − m carries
    # the rounding of θ and m (up to 2^-24·|θ| each), large next to θ − m in the mapping network,
    # whose weights are ~100 (equalised lr_mul = 0.01): the tolerance is that rounding times c_t.
    means = [torch.stack([ref[i] for ref in refs64]).mean(0) for i in range(len(params))]
    for p, w, m in zip(params, want, means):
        c = float(w.norm() / (p.detach().double() - m).norm())
        rounding = 4 * 2**-24 * float(p.detach().abs().max() + m.abs().max()) * c
        torch.testing.assert_close(p.grad.double(), w, rtol=1e-4, atol=rounding + 1e-6 * float(w.abs().max()))


@pytest.mark.parametrize("kind", ["el2", "nl2"])
def test_the_decoupled_step_moves_theta_by_minus_lr_gamma_times_the_reference_gradient(inputs, kind):
    G = perturbed(inputs.G, 0.01, seed=4)
    refs = [[p.detach().clone() for p in perturbed(inputs.G, 0.05, seed=30 + j).parameters()] for j in range(2)]
    params = list(G.parameters())
    refs64 = [[t.double() for t in ref] for ref in refs]
    before = [p.detach().double().clone() for p in params]
    d = float(reference.sq_dist(before, refs64, "sum"))
    alpha, gamma, lr = 0.7 / d, 3.0, 0.01
    for p in params:
        p.grad = torch.full_like(p, 5.0)  # an adversarial gradient already applied: ignored
    logged = DecoupledRepulsion(atu_ext.Repulsion(params, refs, kind=kind, alpha=alpha, reduction="sum"), gamma, lr)(G)

    theta = [t.clone().requires_grad_(True) for t in before]
    formula = (
        reference.repulsion_el2(theta, refs64, alpha, "sum")
        if kind == "el2"
        else reference.repulsion_nl2(theta, refs64, "sum")
    )
    want = [t - lr * gamma * g for t, g in zip(before, torch.autograd.grad(formula, theta))]
    assert logged["repulsion"] == pytest.approx(float(formula.detach()), rel=1e-4)
    assert all(p.grad is None for p in params)  # scratch gradients are not left behind
    for p, w, b in zip(params, want, before):
        # float32 θ: the update is added to values up to ~100 (mapping weights), so allow their rounding
        torch.testing.assert_close(p.detach().double(), w, rtol=0, atol=4 * 2**-24 * float(b.abs().max()) + 1e-9)
        assert (p.detach().double() - b).norm() >= 0.5 * (w - b).norm()  # it did move, not only round


def _unlearn(inputs, out, cfg, **kwargs):
    """Stage 2 on the shared inputs, into `out`, saving and logging every 2 steps."""
    return unlearn(inputs.gen, inputs.adapted, inputs.feedback, out, cfg, schedule=EVERY_2, progress=False, **kwargs)


def test_decoupled_stage_2_pushes_along_theta_minus_theta_n_and_resumes_bit_identically(inputs, tmp_path, monkeypatch):
    cfg = UnlearnConfig(
        kind="el2", alpha=1e-6, gamma=1e6, reduction="sum", steps=4, train=NO_EMA, seed=3, decoupled=True
    )
    assert cfg.to_dict()["decoupled"] is True and "decoupled" not in UnlearnConfig().to_dict()
    straight = _unlearn(inputs, tmp_path / "straight", cfg)
    plain = _unlearn(
        inputs, tmp_path / "plain", UnlearnConfig(kind="el2", gamma=0.0, reduction="sum", steps=4, train=NO_EMA, seed=3)
    )

    # the same adversarial steps plus a push along θ − mean θ_N: the difference points along it
    def flat(path):
        return torch.cat([t.detach().double().flatten() for t in ckpt.load(path).generator().parameters()])

    mean_n = sum(flat(p) for p in inputs.adapted) / len(inputs.adapted)
    extra, away = flat(straight) - flat(plain), flat(inputs.gen) - mean_n
    assert float(extra @ away / (extra.norm() * away.norm())) > 0.5
    assert json.loads((tmp_path / "straight" / "run.json").read_text())["config"]["decoupled"] is True

    _unlearn_killed_after_step(3, inputs, tmp_path / "cut", cfg, monkeypatch)
    _unlearn(inputs, tmp_path / "cut", cfg, resume=True)
    _assert_same_files(tmp_path / "straight" / "model.safetensors", tmp_path / "cut" / "model.safetensors")


def _unlearn_killed_after_step(step: int, inputs, out, cfg, monkeypatch) -> None:
    """Runs stage 2 into `out` and kills it (SystemExit) right after training step `step`."""
    killed_after_step(
        monkeypatch,
        StyleGAN2Trainer,
        step,
        lambda: _unlearn(inputs, out, cfg),
    )


def test_gamma_zero_is_exactly_plain_adversarial_training_on_the_positives(inputs, tmp_path):
    out = tmp_path / "adv"
    path = _unlearn(inputs, out, UnlearnConfig(gamma=0.0, steps=3, train=TRAIN, seed=4))
    G, D = copy.deepcopy(inputs.G), copy.deepcopy(inputs.D)
    trainer = StyleGAN2Trainer(G, D, TRAIN, g_ema=copy.deepcopy(inputs.G), seed=4)
    positives = disc_bundle().positives()
    batches = Batches.of_tensor(positives, TRAIN.batch_size, 4)
    for _ in range(3):
        trainer.train_step(batches.next())
    got = ckpt.load_atu(path).state_dicts
    for name, t in trainer.g_ema.state_dict().items():
        assert torch.equal(got["g_ema"][name], t), name
    for name, t in trainer.D.state_dict().items():
        assert torch.equal(got["d"][name], t), name
    log = _log(out / "log.jsonl")
    assert all("repulsion" not in r and r["d"] > 0 for r in log)


def test_repulsion_moves_theta_away_from_the_adapted_models_compared_to_gamma_zero(inputs, tmp_path):
    final_d = {}
    for gamma in (0.0, 1e3):
        cfg = UnlearnConfig(kind="nl2", gamma=gamma, reduction="tensor_mean", steps=4, train=NO_EMA, seed=1)
        _unlearn(inputs, tmp_path / f"g{gamma:g}", cfg)
        final_d[gamma] = _log(tmp_path / f"g{gamma:g}" / "log.jsonl")[-1]["d"]
    with torch.no_grad():
        d0 = float(
            atu_ext.sq_dist(
                list(inputs.G.parameters()),
                [list(ckpt.load(p).generator().parameters()) for p in inputs.adapted],
                reduction="tensor_mean",
            )
        )
    growth = {gamma: d - d0 for gamma, d in final_d.items()}
    assert growth[1e3] > 0 and growth[1e3] > 5 * abs(growth[0.0])


def test_stage_2_resumes_bit_identically_after_a_kill(inputs, tmp_path, monkeypatch):
    cfg = UnlearnConfig(steps=5, train=TRAIN, seed=2)
    _unlearn(inputs, tmp_path / "straight", cfg)

    _unlearn_killed_after_step(4, inputs, tmp_path / "cut", cfg, monkeypatch)  # step 4: neither logged nor saved
    assert ckpt.load_atu(tmp_path / "cut" / "checkpoint.safetensors").metadata["step"] == 2
    _unlearn(inputs, tmp_path / "cut", cfg, resume=True)
    _assert_same_files(tmp_path / "straight" / "checkpoint.safetensors", tmp_path / "cut" / "checkpoint.safetensors")
    _assert_same_files(tmp_path / "straight" / "model.safetensors", tmp_path / "cut" / "model.safetensors")
    assert _log(tmp_path / "straight" / "log.jsonl") == _log(tmp_path / "cut" / "log.jsonl")


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    inputs, tmp_path, monkeypatch
):
    real_step = StyleGAN2Trainer.train_step

    def poisoned_before_step_3(self, real):
        if self.step == 2:
            with torch.no_grad():
                self.D.final_linear[1].weight.fill_(float("nan"))
        return real_step(self, real)

    monkeypatch.setattr(StyleGAN2Trainer, "train_step", poisoned_before_step_3)
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match="non-finite loss .*at step 3.*last good checkpoint.*step 2") as err:
        _unlearn(inputs, out, UnlearnConfig(steps=6, train=TRAIN))
    assert err.value.step == 3
    state = ckpt.load_atu(out / "checkpoint.safetensors")
    assert state.metadata["step"] == 2
    assert all(
        torch.isfinite(t).all() for sd in state.state_dicts.values() for t in sd.values() if t.is_floating_point()
    )
    assert not (out / "model.safetensors").exists()
    # stage 1 stops the same way (the loop is shared)
    with pytest.raises(NonFiniteLossError, match="at step 3"):
        cfg = AdaptConfig(k=1, steps=4, fisher_samples=2, train=TRAIN)
        adapt(inputs.gen, inputs.feedback, tmp_path / "nan1", cfg, schedule=EVERY_2, progress=False)
    assert ckpt.load_atu(tmp_path / "nan1" / "model_0" / "checkpoint.safetensors").metadata["step"] == 2


# ---- bad inputs: clear errors before anything is written ---------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(inputs, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    wide_G, wide_D = tiny_models(width=16)
    unfinished = root / "unfinished_adapt"
    (unfinished / "model_0").mkdir(parents=True)
    return SimpleNamespace(
        small=save_bundle(root / "small.safetensors", disc_bundle(size=8)),
        no_negatives=save_bundle(root / "no_neg.safetensors", disc_bundle(n_undesired=0)),
        no_positives=save_bundle(root / "no_pos.safetensors", disc_bundle(n_undesired=12)),
        wide=save_pretrained(root / "wide.safetensors", wide_G, wide_D),
        unfinished=unfinished,
    )


BAD_ADAPT = {
    "missing gen": (dict(gen="nowhere.safetensors"), FileNotFoundError, "--gen .*no such file"),
    "missing feedback": (dict(feedback="nowhere.safetensors"), FileNotFoundError, "--feedback .*no such file"),
    "resolution": (dict(feedback="small"), ValueError, "8×8 but the generator makes 16×16"),
    "no negatives": (dict(feedback="no_negatives"), ValueError, "no sample is marked undesired"),
}

BAD_UNLEARN = {
    "missing gen": (dict(gen="nowhere.safetensors"), FileNotFoundError, "--gen .*no such file"),
    "missing feedback": (dict(feedback="nowhere.safetensors"), FileNotFoundError, "--feedback .*no such file"),
    "missing adapted": (dict(adapted=["nowhere.safetensors"]), FileNotFoundError, "--adapted .*no such file"),
    "resolution": (dict(feedback="small"), ValueError, "8×8 but the generator makes 16×16"),
    "no positives": (dict(feedback="no_positives"), ValueError, "all 12 samples are marked undesired"),
    "architecture": (dict(adapted="wide"), ValueError, "differs from --gen's"),
    "unfinished adapt": (dict(adapted="unfinished"), FileNotFoundError, "have not finished"),
}


def _resolve(value, inputs, bad_files, tmp_path):
    if isinstance(value, list):
        return [tmp_path / v for v in value]
    if hasattr(bad_files, value):
        return getattr(bad_files, value)
    return tmp_path / value


def _stage_args(change, inputs, bad_files, tmp_path):
    """The stages' good inputs (gen, feedback, adapted) with `change` applied (_resolve)."""
    args = {"gen": inputs.gen, "feedback": inputs.feedback, "adapted": inputs.adapted}
    return {**args, **{k: _resolve(v, inputs, bad_files, tmp_path) for k, v in change.items()}}


@pytest.mark.parametrize("case", BAD_ADAPT)
def test_stage_1_input_errors_come_before_anything_is_written(inputs, bad_files, tmp_path, case):
    change, error, message = BAD_ADAPT[case]
    args = _stage_args(change, inputs, bad_files, tmp_path)
    with pytest.raises(error, match=message):
        adapt(args["gen"], args["feedback"], tmp_path / "out", AdaptConfig(k=1, steps=1, train=TRAIN), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", BAD_UNLEARN)
def test_stage_2_input_errors_come_before_anything_is_written(inputs, bad_files, tmp_path, case):
    change, error, message = BAD_UNLEARN[case]
    args = _stage_args(change, inputs, bad_files, tmp_path)
    with pytest.raises(error, match=message):
        cfg = UnlearnConfig(steps=1, train=TRAIN)
        unlearn(args["gen"], args["adapted"], args["feedback"], tmp_path / "out", cfg, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: AdaptConfig(k=0), "k must be an integer from 1 to 64"),
        (lambda: AdaptConfig(steps=0), "steps must be an integer from 1 to 10,000,000"),
        (lambda: AdaptConfig(lam=-1.0), "lam .* >= 0"),
        (lambda: AdaptConfig(lam=float("nan")), "lam .* finite"),
        (lambda: AdaptConfig(fisher_samples=0), "fisher_samples"),
        (lambda: AdaptConfig(fisher_layers="mapping"), "fisher_layers must be one of conv, all"),
        (lambda: UnlearnConfig(gamma=-0.1), "gamma .* >= 0"),
        (lambda: UnlearnConfig(steps=0), "steps must be an integer from 1 to 10,000,000"),
        (lambda: UnlearnConfig(kind="xl2"), "kind must be one of el2, il2, nl2"),
        (lambda: UnlearnConfig(reduction="median"), "reduction must be one of sum, mean, tensor_mean"),
        (lambda: UnlearnConfig(alpha=0.0), "alpha .* > 0"),
        (lambda: UnlearnConfig(decoupled="yes"), "decoupled must be true or false"),
        (lambda: TrainConfig(batch_size=0), "batch_size must be >= 1"),
    ],
)
def test_bad_hyper_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_existing_runs_are_refused_and_resume_checks_configuration_and_inputs(inputs, tmp_path):
    out = tmp_path / "run"
    cfg = UnlearnConfig(steps=1, train=TRAIN)
    unlearn(inputs.gen, inputs.adapted, inputs.feedback, out, cfg, progress=False)
    before = _files(out)
    with pytest.raises(FileExistsError, match="--resume"):
        unlearn(inputs.gen, inputs.adapted, inputs.feedback, out, cfg, progress=False)
    with pytest.raises(ValueError, match="gamma"):
        unlearn(
            inputs.gen,
            inputs.adapted,
            inputs.feedback,
            out,
            UnlearnConfig(steps=2, gamma=5.0, train=TRAIN),
            resume=True,
            progress=False,
        )
    with pytest.raises(ValueError, match="input file.*adapted.*changed"):
        unlearn(inputs.gen, inputs.adapted[:1], inputs.feedback, out, cfg, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        adapt(
            inputs.gen,
            inputs.feedback,
            tmp_path / "none",
            AdaptConfig(k=1, steps=1, train=TRAIN),
            resume=True,
            progress=False,
        )
    assert _files(out) == before and not (tmp_path / "none").exists()


# ---- command line ------------------------------------------------------------------------------------------


def test_the_command_line_runs_both_stages_and_reports_errors(inputs, tmp_path, capsys):
    common = ["--batch", "4", "--steps", "2", "--checkpoint-every", "1", "--sample-every", "1", "--device", "cpu"]
    adapt_args = ["adapt", "--gen", str(inputs.gen), "--feedback", str(inputs.feedback), "--out", str(tmp_path / "a")]
    adapt_args += ["--k", "1", "--fisher-samples", "2", *common]
    assert atu_main(adapt_args) == 0
    assert (
        atu_main(
            ["unlearn", "--gen", str(inputs.gen), "--adapted", str(tmp_path / "a"), "--feedback"]
            + [str(inputs.feedback), "--out", str(tmp_path / "u"), "--kind", "il2", "--gamma", "0.5", *common]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "model_0/model.safetensors" in out and str(tmp_path / "u" / "model.safetensors") in out
    moved = ckpt.load_atu(tmp_path / "a" / "model_0" / "model.safetensors").metadata["moved_from_theta_g"]
    assert f"||θ_N − θ_G|| = {moved['all']:.4g}; in the EWC-anchored layers {moved['anchored']:.4g}" in out
    run = json.loads((tmp_path / "u" / "run.json").read_text())
    assert run["config"]["kind"] == "il2" and run["config"]["gamma"] == 0.5
    assert len(run["inputs"]["adapted"]) == 1

    assert atu_main([*adapt_args[: -len(common)], "--out", str(tmp_path / "b"), "--k", "0", *common]) == 2
    assert "k must be an integer from 1 to 64" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert (
        atu_main(
            ["unlearn", "--gen", str(inputs.gen), "--adapted", str(tmp_path / "a"), "--feedback"]
            + [str(inputs.feedback), "--out", str(tmp_path / "c"), "--gamma", "-1", *common]
        )
        == 2
    )
    assert "gamma" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_a_training_batch_that_cannot_fit_is_refused_before_anything_is_written(inputs, tmp_path, monkeypatch, capsys):
    from atu.cli import main as atu_main
    from atu.models import fits

    G = ckpt.load(inputs.gen).generator("g_ema")
    monkeypatch.setattr(fits, "available_bytes", lambda device: 3 * G.bytes_per_image(training=True))
    for command in (["adapt", "--k", "1"], ["unlearn", "--adapted", str(inputs.adapted[0])]):
        out = tmp_path / command[0]
        assert (
            atu_main(
                [*command, "--gen", str(inputs.gen), "--feedback", str(inputs.feedback), "--steps", "1"]
                + ["--batch", "8", "--device", "cpu", "--out", str(out)]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert "--batch 8 at 16 px needs at least" in err and "use --batch 3 or less" in err, err
        assert not out.exists()
