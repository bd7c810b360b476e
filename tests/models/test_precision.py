"""Mixed precision in the models (atu.models.precision): which resolutions compute in which dtype,
the activation clamp, images and gradients against the same models in float64, and float32 left
exactly as it was."""

import pytest
import torch

from atu.models import Discriminator, Generator, narrow_channels
from atu.models.layers import FusedLeakyReLU, StyledConv, ToRGB
from atu.models.precision import FP32, Precision

SIZE = 32
CH = narrow_channels(SIZE, 8)
REDUCED = [torch.bfloat16, torch.float16]
NAME = {torch.bfloat16: "bf16", torch.float16: "fp16"}


def _models(dtype=torch.float32):
    torch.manual_seed(0)
    G = Generator(SIZE, style_dim=16, n_mlp=2, channels=CH).to(dtype)
    D = Discriminator(SIZE, channels=CH).to(dtype)
    return G, D


def _inputs(G, n=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(n, G.style_dim, generator=g, dtype=torch.float64).to(dtype)
    noise = [t.to(dtype) for t in G.make_noise(g, n)]
    return z, noise


def test_the_highest_resolutions_are_reduced_never_below_8_px():
    bf16 = Precision("bf16")  # NVlabs' 4 resolutions
    assert [r for r in (4, 8, 16, 32, 64, 128, 256) if bf16.reduced_at(r, 256)] == [32, 64, 128, 256]
    assert [r for r in (4, 8, 16, 32) if bf16.reduced_at(r, 32)] == [8, 16, 32]
    assert [r for r in (4, 8, 16, 32) if Precision("fp16", resolutions=1).reduced_at(r, 32)] == [32]
    assert bf16.reduced_at(256, 256) is torch.bfloat16 and Precision("fp16").reduced_at(256, 256) is torch.float16
    for nothing_reduced in (FP32, Precision("bf16", resolutions=0)):
        assert not nothing_reduced.reduced and nothing_reduced.clamp is None
        assert all(nothing_reduced.reduced_at(r, 256) is None for r in (4, 8, 256))
    assert bf16.clamp == 256.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="fp8"), "precision must be one of fp32, bf16, fp16"),
        (dict(resolutions=-1), "reduced_resolutions must be an int >= 0"),
        (dict(conv_clamp=0.0), "conv_clamp must be a finite number > 0"),
        (dict(conv_clamp=float("inf")), "conv_clamp must be a finite number > 0"),
    ],
)
def test_bad_precisions_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Precision(**kwargs)


@pytest.mark.parametrize("dtype", REDUCED, ids=NAME.get)
def test_layers_compute_in_the_dtype_of_their_resolution_and_parameters_stay_float32(dtype):
    G, D = _models()
    G.set_precision(Precision(NAME[dtype], resolutions=2))  # 16 and 32 px reduced, 4 and 8 not
    D.set_precision(Precision(NAME[dtype], resolutions=2))
    seen = {"G": set(), "D": set()}
    for module in G.modules():  # a styled conv's output: its block's resolution and dtype
        if isinstance(module, StyledConv):
            module.register_forward_hook(lambda m, args, out: seen["G"].add((out.shape[-1], out.dtype)))
    for block in D.convs:  # a discriminator block's input: its resolution and dtype
        block.register_forward_hook(lambda m, args, out: seen["D"].add((args[0].shape[-1], args[0].dtype)))
    z, noise = _inputs(G)
    image, _ = G([z], noise=noise)
    pred = D(image)
    assert image.dtype == torch.float32 and pred.dtype == torch.float32
    assert seen["G"] == {(4, torch.float32), (8, torch.float32), (16, dtype), (32, dtype)}
    assert seen["D"] == {(32, dtype), (16, dtype), (8, torch.float32)}  # fromRGB and the first block at 32
    assert all(p.dtype == torch.float32 for p in (*G.parameters(), *D.parameters()))


@pytest.mark.parametrize("dtype", REDUCED, ids=NAME.get)
def test_images_predictions_and_gradients_stay_close_to_float64(dtype):
    """The same weights in float64 are the oracle: the reduced models' image, D's prediction and every
    parameter's gradient agree to within the dtype's rounding (a relative error of a few percent
    for bfloat16's 8 bits, far less for float16's 11)."""
    G, D = _models()
    G64, D64 = _models(torch.float64)
    G.set_precision(Precision(NAME[dtype]))
    D.set_precision(Precision(NAME[dtype]))
    results = []
    for g, d, floating in ((G, D, torch.float32), (G64, D64, torch.float64)):
        z, noise = _inputs(g, dtype=floating)
        image, _ = g([z], noise=noise)
        pred = d(image)
        (pred.square().mean() + image.mean()).backward()
        grads = torch.cat([p.grad.flatten().double() for p in (*g.parameters(), *d.parameters()) if p.grad is not None])
        results.append((image.double(), pred.double(), grads))
    (image, pred, grads), (image64, pred64, grads64) = results
    bound = {torch.bfloat16: 0.05, torch.float16: 0.01}[dtype]
    for name, got, want in (("image", image, image64), ("prediction", pred, pred64), ("gradients", grads, grads64)):
        relative = ((got - want).norm() / want.norm()).item()
        assert relative < bound, f"{name}: relative error {relative:.3g}"


def test_conv_clamp_bounds_every_convolutions_activations():
    G, D = _models()
    G.set_precision(Precision("bf16", conv_clamp=0.25))
    D.set_precision(Precision("bf16", conv_clamp=0.25))
    outs = []
    for module in (*G.modules(), *D.modules()):
        if isinstance(module, (FusedLeakyReLU, ToRGB)):
            module.register_forward_hook(lambda m, args, out: outs.append((m, out)))
    z, noise = _inputs(G)
    D(G([z], noise=noise)[0])
    lrelus = [out for m, out in outs if isinstance(m, FusedLeakyReLU)]
    assert len(lrelus) > 10 and all(out.abs().max() <= 0.25 for out in lrelus)
    assert max(out.abs().max() for out in lrelus) == 0.25  # the clamp was reached: it did something
    # ToRGB returns the image so far: the skip (each term clamped) plus this resolution's clamped term
    assert outs and all(isinstance(m, ToRGB) or m.conv_clamp == 0.25 for m, _ in outs)


def test_float32_is_unchanged_and_undoes_a_reduced_precision():
    G, D = _models()
    z, noise = _inputs(G)
    before = G([z], noise=noise)[0]
    pred_before = D(before)
    G.set_precision(Precision("fp16"))
    D.set_precision(Precision("fp16"))
    assert not torch.equal(G([z], noise=noise)[0], before)
    G.set_precision(FP32)
    D.set_precision(FP32)
    assert torch.equal(G([z], noise=noise)[0], before) and torch.equal(D(before), pred_before)
    assert all(m.conv_clamp is None for m in (*G.modules(), *D.modules()) if hasattr(m, "conv_clamp"))
