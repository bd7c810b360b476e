"""atu.models against rosinality's layout (the reference TSVs) and against an independent
functional statement of that implementation's forward passes (rosinality_oracle.py)."""

import math

import pytest
import torch

import rosinality_oracle as oracle
from atu import layouts
from atu.models import Discriminator, Generator, narrow_channels, use_ops
from atu.models.generator import SAMPLE_BLOCK

TINY = narrow_channels(16, 16)  # 16 channels at every resolution up to 16 px


def _layout_of(model):
    params = {name for name, _ in model.named_parameters()}
    return [
        (name, tuple(t.shape), "parameter" if name in params else "buffer") for name, t in model.state_dict().items()
    ]


@pytest.mark.parametrize(
    "layout, build",
    [
        ("G32", lambda: Generator(32, style_dim=128, n_mlp=8, channel_multiplier=2)),
        ("G256", lambda: Generator(256, style_dim=512, n_mlp=8, channel_multiplier=2)),
        ("D32", lambda: Discriminator(32, channel_multiplier=2)),
        ("D256", lambda: Discriminator(256, channel_multiplier=2)),
    ],
)
def test_state_dict_names_shapes_kinds_and_order_match_rosinality(layout, build):
    expected = [(e.name, e.shape, e.kind) for e in layouts.load(layout)]
    assert _layout_of(build()) == expected


def _randomised(model, seed, dtype=torch.float64):
    """Non-trivial values everywhere (rosinality initialises noise strengths and biases to 0)."""
    g = torch.Generator().manual_seed(seed)
    model = model.to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("noise.weight") or name.endswith("bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=dtype))
    return model


def _noise(G, n, seed):
    return G.make_noise(torch.Generator().manual_seed(seed), batch=n)


def test_generator_matches_the_rosinality_oracle_float64():
    G = _randomised(Generator(16, style_dim=12, n_mlp=3, channels=TINY), seed=1)
    z = torch.randn(3, 12, dtype=torch.float64)
    noise = [t.double() for t in _noise(G, 3, seed=2)]
    img, latent = G([z], noise=noise, return_latents=True)
    want = oracle.generator(G.state_dict(), z, noise, n_mlp=3)
    torch.testing.assert_close(img, want, rtol=1e-10, atol=1e-10)
    assert latent.shape == (3, G.n_latent, 12)


def test_generator_style_mixing_and_truncation_match_the_oracle():
    G = _randomised(Generator(16, style_dim=12, n_mlp=2, channels=TINY), seed=3)
    z1, z2 = torch.randn(2, 12, dtype=torch.float64), torch.randn(2, 12, dtype=torch.float64)
    noise = [t.double() for t in _noise(G, 2, seed=4)]
    mean_w = G.mean_latent(64, torch.Generator().manual_seed(5))
    img, latent = G(
        [z1, z2], inject_index=3, truncation=0.7, truncation_latent=mean_w, noise=noise, return_latents=True
    )
    w1, w2 = G.get_latent(z1), G.get_latent(z2)
    w1, w2 = mean_w + 0.7 * (w1 - mean_w), mean_w + 0.7 * (w2 - mean_w)
    mixed = torch.cat([w1[:, None].repeat(1, 3, 1), w2[:, None].repeat(1, G.n_latent - 3, 1)], 1)
    torch.testing.assert_close(latent, mixed)
    torch.testing.assert_close(
        img, oracle.generator(G.state_dict(), mixed, noise, input_is_latent=True), rtol=1e-10, atol=1e-10
    )


def test_full_width_32px_generator_matches_the_oracle_float32():
    G = _randomised(Generator(32, style_dim=128), seed=6, dtype=torch.float32)
    z = torch.randn(2, 128)
    img, _ = G([z], randomize_noise=False)
    noise = [getattr(G.noises, f"noise_{i}") for i in range(G.num_layers)]
    want = oracle.generator(G.state_dict(), z, noise)
    torch.testing.assert_close(img, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [4, 8])
def test_discriminator_matches_the_rosinality_oracle(batch):
    D = _randomised(Discriminator(16, channels=TINY), seed=7)
    x = torch.randn(batch, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(D(x), oracle.discriminator(D.state_dict(), x), rtol=1e-10, atol=1e-10)


def test_discriminator_minibatch_group_divides_any_batch():
    """rosinality fails when min(N, 4) does not divide N; ours uses the largest divisor <= 4, which
    equals the oracle on the batches rosinality accepts and is still exactly per-group otherwise."""
    D = _randomised(Discriminator(16, channels=TINY), seed=8)
    x = torch.randn(6, 3, 16, 16, dtype=torch.float64)  # groups of 3
    out = D(x)
    assert out.shape == (6, 1) and torch.isfinite(out).all()
    D3 = Discriminator(16, channels=TINY, stddev_group=3).double()
    D3.load_state_dict(D.state_dict())
    torch.testing.assert_close(out, D3(x))


def test_atu_ext_ops_equal_the_reference_ops_through_both_models():
    G = _randomised(Generator(16, style_dim=8, n_mlp=2, channels=TINY), seed=9)
    D = _randomised(Discriminator(16, channels=TINY), seed=10)
    z = torch.randn(4, 8, dtype=torch.float64)
    noise = [t.double() for t in _noise(G, 4, seed=11)]
    img = G([z], noise=noise)[0]
    with use_ops("reference"):
        img_ref = G([z], noise=noise)[0]
        d_ref = D(img_ref)
    torch.testing.assert_close(img, img_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(D(img), d_ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown ops mode"):
        with use_ops("numpy"):
            pass


def _r1_and_path_length_grads(G, D, z, noise):
    """The two second-order terms of StyleGAN2 training, differentiated w.r.t. every weight."""
    real = torch.randn(4, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    (grad_real,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    r1 = grad_real.pow(2).flatten(1).sum(1).mean()
    img, latents = G([z], noise=noise, return_latents=True)
    y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad_w,) = torch.autograd.grad((img * y).sum(), latents, create_graph=True)
    path = grad_w.pow(2).sum(2).mean(1).sqrt().mean()
    params = list(D.parameters()) + list(G.parameters())
    return torch.autograd.grad(r1 + path, params, allow_unused=True)


def test_r1_and_path_length_gradients_equal_those_through_the_reference_ops():
    G = _randomised(Generator(16, style_dim=8, n_mlp=2, channels=TINY), seed=12)
    D = _randomised(Discriminator(16, channels=TINY), seed=13)
    z = torch.randn(4, 8, dtype=torch.float64)
    noise = [t.double() for t in _noise(G, 4, seed=14)]
    torch.manual_seed(0)
    ours = _r1_and_path_length_grads(G, D, z, noise)
    torch.manual_seed(0)
    with use_ops("reference"):
        ref = _r1_and_path_length_grads(G, D, z, noise)
    assert sum(g is not None for g in ours) > len(ours) // 2
    for a, b in zip(ours, ref):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_sample_is_determined_by_its_seed_and_independent_of_batching():
    G = Generator(16, style_dim=8, n_mlp=2, channels=TINY)
    a = G.sample(5, seed=3, batch_size=2)
    b = G.sample(5, seed=3, batch_size=5)
    c = G.sample(5, seed=4)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert a.shape == (5, 3, 16, 16) and not torch.allclose(a, c)
    imgs, w = G.sample(3, seed=3, truncation=0.5, return_latents=True)
    assert imgs.shape == (3, 3, 16, 16) and w.shape == (3, G.n_latent, 8)


def test_sample_i_depends_on_seed_and_index_only_across_sample_blocks():
    # 2·SAMPLE_BLOCK + 3 samples span three blocks; batches of 50 straddle the block edges
    G = _randomised(Generator(16, style_dim=8, n_mlp=2, channels=TINY), seed=16)
    n = 2 * SAMPLE_BLOCK + 3
    whole, w = G.sample(n, seed=7, batch_size=n, return_latents=True)
    torch.testing.assert_close(G.sample(n, seed=7, batch_size=50), whole, rtol=1e-5, atol=1e-5)
    # a shorter run gives the same first samples (n does not enter a sample's randomness)
    short = SAMPLE_BLOCK + 1
    torch.testing.assert_close(G.sample(short, seed=7, batch_size=short), whole[:short], rtol=1e-5, atol=1e-5)
    # the inputs of a window are that window of the inputs, whatever the window
    z_all, noise_all = G.sample_inputs(7, 0, n)
    z, noise = G.sample_inputs(7, SAMPLE_BLOCK - 2, SAMPLE_BLOCK + 5)
    assert z_all.shape == (n, 8) and len(noise_all) == G.num_layers
    assert torch.equal(z, z_all[SAMPLE_BLOCK - 2 : SAMPLE_BLOCK + 5])
    for a, b in zip(noise_all, noise):
        assert torch.equal(a[SAMPLE_BLOCK - 2 : SAMPLE_BLOCK + 5], b)
    # blocks draw unrelated inputs: not the next block's, not the next seed's
    assert not torch.equal(z_all[:SAMPLE_BLOCK], z_all[SAMPLE_BLOCK : 2 * SAMPLE_BLOCK])
    assert not torch.equal(z_all[:1], G.sample_inputs(8, 0, 1)[0])
    # the images are G's forward of those inputs, and w is the mapping of that z
    z_all = z_all.to(G.input.input)  # z comes on the CPU in float32, like the stored bank latents
    with torch.no_grad():
        direct = G([z_all[60:70]], noise=[t[60:70] for t in noise_all])[0]
        torch.testing.assert_close(w[:, 0], G.get_latent(z_all), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(direct, whole[60:70], rtol=1e-5, atol=1e-5)


def test_sample_inputs_rejects_an_empty_or_negative_window():
    G = Generator(16, style_dim=8, n_mlp=2, channels=TINY)
    for start, stop in ((3, 3), (-1, 2), (5, 4)):
        with pytest.raises(ValueError, match="start < stop"):
            G.sample_inputs(0, start, stop)


def test_forward_is_deterministic_for_fixed_latents_and_noise():
    G = _randomised(Generator(16, style_dim=8, n_mlp=2, channels=TINY), seed=15)
    z = torch.randn(2, 8, dtype=torch.float64)
    assert torch.equal(G([z], randomize_noise=False)[0], G([z], randomize_noise=False)[0])
    assert not torch.equal(G([z])[0], G([z])[0])  # fresh noise each call, as in rosinality


def test_config_round_trips_through_json_kwargs():
    G = Generator(16, style_dim=8, n_mlp=2, channels=TINY)
    G2 = Generator.from_config(G.config())
    assert _layout_of(G2) == _layout_of(G) and G2.config() == G.config()
    D = Discriminator(32)
    assert (
        Discriminator.from_config(D.config()).config()
        == D.config()
        == {"size": 32, "channel_multiplier": 2, "blur_kernel": [1, 3, 3, 1]}
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 48}, "power of two"),
        ({"size": 16, "channels": {4: 8, 8: 8}}, "exactly the resolutions"),
        ({"size": 16, "channels": {4: 8, 8: 8, 16: 0}}, r"channels\[16\]"),
        ({"size": 16, "channel_multiplier": 0}, "channel_multiplier"),
    ],
)
def test_bad_architecture_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Generator(style_dim=8, **kwargs)


def test_bad_call_arguments_are_named():
    G = Generator(16, style_dim=8, n_mlp=1, channels=TINY)
    z = torch.randn(2, 8)
    with pytest.raises(TypeError, match="list of tensors"):
        G(z)
    with pytest.raises(ValueError, match="truncation_latent"):
        G([z], truncation=0.5)
    with pytest.raises(ValueError, match="noise must hold"):
        G([z], noise=[None])
    with pytest.raises(ValueError, match=r"\[N, 3, 16, 16\]"):
        Discriminator(16, channels=TINY)(torch.randn(2, 3, 8, 8))


def test_sampling_draws_fewer_images_per_pass_at_high_resolution_and_the_same_samples():
    """Drawing at 1024 px in passes of 64 needed tens of GiB (`atu label` tried 8.6 GB at --n 64)."""
    from atu.models import Generator, narrow_channels

    assert Generator(32, style_dim=8, n_mlp=1, channels=narrow_channels(32, 4)).images_per_pass() == 64
    assert Generator(32, style_dim=8, n_mlp=1, channels=narrow_channels(32, 4)).images_per_pass(at_most=256) == 256
    big = Generator(1024, style_dim=8, n_mlp=1, channels=narrow_channels(1024, 2))
    assert big.images_per_pass() == 2 and big.images_per_pass(at_most=256) == 2
    small = Generator(16, style_dim=8, n_mlp=1, channels=narrow_channels(16, 4)).eval()
    default, one_by_one = small.sample(5, seed=3), small.sample(5, seed=3, batch_size=1)
    torch.testing.assert_close(default, one_by_one, rtol=0, atol=1e-5)  # batching rounds differently
