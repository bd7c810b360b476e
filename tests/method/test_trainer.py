"""StyleGAN2 training steps: losses against closed forms, regularisers run and matter, D learns,
and a run saved and resumed continues bit for bit."""

import math
import warnings

import pytest
import torch

from atu import checkpoint as ckpt
from atu.gan.losses import d_logistic_loss, ema_decay, ema_update, g_nonsaturating_loss, path_length_penalty, r1_penalty
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.models import Discriminator, Generator, narrow_channels

CH = narrow_channels(16, 8)


def _models(seed=0):
    torch.manual_seed(seed)
    return Generator(16, style_dim=8, n_mlp=2, channels=CH), Discriminator(16, channels=CH)


def _real(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    # a structured "dataset": bright discs of random radius, so D has something to learn
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    r = 0.3 + 0.5 * torch.rand(n, 1, 1, generator=g)
    disc = ((xx**2 + yy**2).sqrt()[None] < r).float() * 2 - 1
    return disc[:, None].repeat(1, 3, 1, 1)


def test_logistic_losses_match_their_closed_forms():
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [3.0]])

    def sp(t):
        return math.log1p(math.exp(t))

    assert float(d_logistic_loss(real, fake)) == pytest.approx((sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(3)) / 2)
    assert float(g_nonsaturating_loss(fake)) == pytest.approx((sp(-0.5) + sp(-3)) / 2)


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    w = torch.randn(12)
    x = torch.randn(5, 12, requires_grad=True)
    assert float(r1_penalty(x @ w, x)) == pytest.approx(float(w.square().sum()), rel=1e-6)


def test_path_length_of_a_linear_generator_matches_the_explicit_jacobian():
    torch.manual_seed(0)
    A = torch.randn(2 * 4 * 4, 6, dtype=torch.float64)  # image = A·w (same w for 3 layers)
    latents = torch.randn(3, 3, 6, dtype=torch.float64, requires_grad=True)
    img = (latents.sum(1) @ A.T).view(3, 2, 4, 4)
    gen = torch.Generator().manual_seed(5)
    penalty, new_mean, lengths = path_length_penalty(
        img, latents, torch.tensor(0.5, dtype=torch.float64), decay=0.1, generator=gen
    )
    y = torch.randn(img.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64) / 4.0
    jt_y = y.flatten(1) @ A  # ∂(img·y)/∂w_layer, same for each layer
    want = jt_y.square().sum(1).sqrt()  # sqrt(mean over 3 layers of ||·||²)
    torch.testing.assert_close(lengths, want)
    assert float(new_mean) == pytest.approx(0.5 + 0.1 * (float(want.mean()) - 0.5))
    assert float(penalty) == pytest.approx(float((want - new_mean).square().mean()))


def test_ema_update_and_half_life():
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    ema_update(ema, model, 0.75)
    torch.testing.assert_close(ema.weight, 0.75 * before + 0.25 * model.weight.detach())
    d = ema_decay(16, 10.0)
    assert d ** (10_000 / 16) == pytest.approx(0.5)


def test_lazy_regularisation_corrects_adam():
    G, D = _models()
    tr = StyleGAN2Trainer(G, D, TrainConfig(lr=0.002, d_reg_every=16, g_reg_every=4))
    c = 16 / 17
    assert tr.d_optim.param_groups[0]["lr"] == pytest.approx(0.002 * c)
    assert tr.d_optim.param_groups[0]["betas"] == pytest.approx((0.0, 0.99**c))
    assert tr.g_optim.param_groups[0]["lr"] == pytest.approx(0.002 * 0.8)


def test_steps_run_r1_and_path_length_and_the_discriminator_learns():
    G, D = _models()
    tr = StyleGAN2Trainer(G, D, TrainConfig(batch_size=8, d_reg_every=4, g_reg_every=2), seed=0)
    real = _real()
    first = tr.train_step(real)
    assert {"r1", "path_penalty", "path_length"} <= set(first)  # step 0 regularises both
    assert all(math.isfinite(v) for v in first.values())
    losses = [tr.train_step(real)["d_loss"] for _ in range(24)]
    assert sum(losses[-6:]) / 6 < first["d_loss"] - 0.1, (first["d_loss"], losses)


def test_r1_changes_the_discriminator_update():
    """The second-order R1 gradient through atu_ext ops reaches D's weights."""
    results = []
    for r1 in (0.0, 10.0):
        G, D = _models()
        tr = StyleGAN2Trainer(G, D, TrainConfig(batch_size=8, r1=r1, path_regularize=0.0), seed=0)
        tr.train_step(_real())
        results.append(torch.cat([p.detach().flatten() for p in D.parameters()]))
    assert not torch.allclose(results[0], results[1])


def test_a_discriminator_step_alone_trains_d_only_and_equals_an_iterations_first_half():
    """discriminator_step updates D exactly as train_step's first half (same fakes, same D), leaves
    G, g_ema and the step count alone, and adds R1 only when asked."""
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])  # noqa: E731
    G, D = _models()
    tr = StyleGAN2Trainer(G, D, TrainConfig(batch_size=8, d_reg_every=4), seed=3)
    g_before = flat(G)
    logs = tr.discriminator_step(_real(), regularize=True)
    assert set(logs) == {"d_loss", "r1"} and tr.step == 0
    assert torch.equal(flat(G), g_before) and torch.equal(flat(tr.g_ema), g_before)

    G2, D2 = _models()
    tr2 = StyleGAN2Trainer(G2, D2, TrainConfig(batch_size=8, d_reg_every=4, path_regularize=0.0), seed=3)
    D_after_half = []
    tr2.g_optim.step = lambda *a, **k: D_after_half.append(flat(D2))  # D is final before G steps
    full = tr2.train_step(_real())
    assert full["d_loss"] == logs["d_loss"] and torch.equal(D_after_half[0], flat(D))

    G3, D3 = _models()
    tr3 = StyleGAN2Trainer(G3, D3, TrainConfig(batch_size=8, d_reg_every=4), seed=3)
    assert set(tr3.discriminator_step(_real())) == {"d_loss"}
    assert not torch.equal(flat(D3), flat(D))  # R1 mattered


def test_a_resumed_run_continues_bit_for_bit(tmp_path):
    cfg = TrainConfig(batch_size=4, d_reg_every=2, g_reg_every=2)
    real = _real(4)
    G, D = _models()
    straight = StyleGAN2Trainer(G, D, cfg, seed=3)
    for _ in range(5):
        straight.train_step(real)

    G, D = _models()
    first = StyleGAN2Trainer(G, D, cfg, seed=3)
    for _ in range(3):
        first.train_step(real)
    tensors, info = first.state()
    ckpt.save(
        tmp_path / "state.safetensors", kind="stylegan2", config={}, state_dicts=tensors, metadata={"trainer": info}
    )
    loaded = ckpt.load_atu(tmp_path / "state.safetensors")
    G, D = _models(seed=99)  # different initial weights
    resumed = StyleGAN2Trainer(G, D, cfg, seed=123)  # and a different seed: all restored
    resumed.load_state(loaded.state_dicts, loaded.metadata["trainer"])
    assert resumed.step == 3
    for _ in range(2):
        resumed.train_step(real)
    for a, b in [(straight.G, resumed.G), (straight.D, resumed.D), (straight.g_ema, resumed.g_ema)]:
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name


def test_bad_training_options_are_named():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="mixing"):
        TrainConfig(mixing=1.5)
    with pytest.raises(ValueError, match="unknown setting"):
        TrainConfig.from_dict({"lr": 0.1, "learning_rate": 0.1})


@pytest.mark.parametrize("field", ["r1", "path_regularize", "lr", "mixing", "ema_half_life_kimg"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_training_knobs_are_refused_not_silently_switched_off(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number >= 0"):
        TrainConfig(**{field: value})


def test_a_batch_no_device_could_hold_is_refused_with_its_size():
    from atu.gan.trainer import MAX_BATCH

    with pytest.raises(ValueError, match=f"batch_size {MAX_BATCH + 1} is more than"):
        TrainConfig(batch_size=MAX_BATCH + 1)


def test_the_command_line_refuses_nan_r1_before_any_work(tmp_path, capsys):
    from atu.cli import main

    out = tmp_path / "run"
    assert main(["pretrain", "--data", "digits", "--size", "16", "--steps", "1", "--r1", "nan", "--out", str(out)]) == 2
    assert "r1 must be a finite number" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_learns_with_float32_weights_optimiser_and_ema(precision):
    """NVlabs' mixed precision: the reduced models regularise (R1 and path length differentiate
    through the reduced ops twice) and D learns as in float32, while every parameter, Adam's moments
    and the EMA generator stay float32 and the EMA copy computes in float32."""
    G, D = _models()
    config = TrainConfig(batch_size=8, d_reg_every=4, g_reg_every=2, precision=precision)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        tr = StyleGAN2Trainer(G, D, config, seed=0)
    # float16 convolutions are slow on most CPUs: the trainer says so before any work
    assert any("fp16 on a CPU" in str(w.message) for w in said) == (precision == "fp16")
    assert G.precision.name == D.precision.name == precision and not tr.g_ema.precision.reduced
    real = _real()
    first = tr.train_step(real)
    assert {"r1", "path_penalty", "path_length"} <= set(first)
    losses = [tr.train_step(real)["d_loss"] for _ in range(24)]
    assert all(math.isfinite(v) for v in (*first.values(), *losses))
    assert sum(losses[-6:]) / 6 < first["d_loss"] - 0.1, (first["d_loss"], losses)
    for module in (G, D, tr.g_ema):
        assert all(p.dtype == torch.float32 for p in module.parameters())
    for opt in (tr.g_optim, tr.d_optim):
        assert all(t.dtype == torch.float32 for state in opt.state.values() for t in state.values() if t.numel() > 1)


def test_float16_gradients_that_overflow_are_capped_as_nvlabs_does():
    G, D = _models()
    with pytest.warns(UserWarning, match="fp16 on a CPU"):
        tr = StyleGAN2Trainer(G, D, TrainConfig(batch_size=4, precision="fp16"))
    bf16 = StyleGAN2Trainer(*_models(), TrainConfig(batch_size=4, precision="bf16"))
    for trainer in (tr, bf16):
        p = next(trainer.D.parameters())
        p.grad = torch.zeros_like(p)
        p.grad.view(-1)[:4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 3.0])
        trainer._average_gradients(trainer.D)
    assert tr.D.convs[0][0].weight.grad.flatten()[:4].tolist() == [0.0, 1e5, -1e5, 3.0]
    assert bf16.D.convs[0][0].weight.grad.flatten()[:4].isnan().any()  # bfloat16 has float32's range


def test_each_model_clamps_as_its_checkpoint_recorded_unless_told_otherwise():
    G, D = _models()
    G.recorded_conv_clamp = 64.0  # as an NVlabs pickle trained with conv_clamp 64 loads
    StyleGAN2Trainer(G, D, TrainConfig(batch_size=4, precision="bf16"))
    assert G.precision.conv_clamp == 64.0 and D.precision.conv_clamp == 256.0  # D records none: NVlabs'
    assert {m.conv_clamp for m in G.modules() if hasattr(m, "conv_clamp")} == {64.0}
    StyleGAN2Trainer(G, D, TrainConfig(batch_size=4, precision="bf16", conv_clamp=8.0))
    assert G.precision.conv_clamp == D.precision.conv_clamp == 8.0


def test_precision_settings_are_recorded_only_when_chosen_and_checked():
    assert not {"precision", "reduced_resolutions", "conv_clamp"} & set(TrainConfig().to_dict())
    record = TrainConfig(precision="bf16", reduced_resolutions=2).to_dict()
    assert record["precision"] == "bf16" and record["reduced_resolutions"] == 2
    assert TrainConfig.from_dict(record) == TrainConfig(precision="bf16", reduced_resolutions=2)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="conv_clamp must be a finite number >= 0"):
        TrainConfig(precision="fp16", conv_clamp=-1.0)
    with pytest.raises(ValueError, match="conv_clamp must be a finite number > 0"):
        TrainConfig(precision="fp16", conv_clamp=0.0)


def test_the_command_line_trains_in_bf16_and_records_it(tmp_path):
    import json

    from atu.cli import main

    out = tmp_path / "run"
    args = ["pretrain", "--data", "digits", "--size", "16", "--steps", "2", "--batch", "4", "--out", str(out)]
    assert main([*args, "--precision", "bf16", "--conv-clamp", "128", "--sample-every", "0", "--device", "cpu"]) == 0
    train = json.loads((out / "run.json").read_text())["config"]["train"]
    assert train["precision"] == "bf16" and train["conv_clamp"] == 128.0
