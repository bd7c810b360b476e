"""atu_ext.modulated_conv2d against a per-sample loop (atu_ext.reference) and against rosinality's
ModulatedConv2d formulation; the fused modulation op on its own; gradients (first and second
order); registration contracts; a compiled StyleGAN2 block; bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

import atu_ext
from atu_ext import reference

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-9), torch.float32: dict(rtol=2e-4, atol=2e-4)}
MODES = [(1, 1), (2, 1), (1, 2)]


def _problem(n, i, o, k, hw, seed, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, *hw, generator=g, dtype=torch.float64)
    weight = torch.randn(o, i, k, k, generator=g, dtype=torch.float64) / math.sqrt(i * k * k)
    styles = 1.0 + 0.5 * torch.randn(n, i, generator=g, dtype=torch.float64)
    return [t.to(device=device, dtype=dtype) for t in (x, weight, styles)]


IMPLS = ["grouped", "shared"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("up, down", MODES)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_per_sample_reference(device, up, down, k, demodulate, dtype, impl):
    x, weight, styles = _problem(3, 5, 4, k, (9, 7), seed=k + 10 * up + 100 * down, dtype=dtype, device=device)
    ours = atu_ext.modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, down=down, impl=impl)
    want = reference.modulated_conv2d(
        *(t.cpu().double() for t in (x, weight, styles)), demodulate=demodulate, up=up, down=down
    )
    assert ours.shape == want.shape and ours.dtype == dtype
    torch.testing.assert_close(ours.cpu().double(), want, **TOL[dtype])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("up, down", MODES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_values_and_gradients_against_float64(device, up, down, dtype, impl):
    """Mixed-precision training runs the convolutions in float16/bfloat16: the value and the gradients
    of x, weight and styles stay within a few roundings of the dtype (its eps times the largest
    magnitude) of the float64 reference."""
    problem = _problem(2, 5, 4, 3, (9, 7), seed=7 + up + 3 * down)
    x, weight, styles = (t.to(device=device, dtype=dtype).requires_grad_() for t in problem)
    ours = atu_ext.modulated_conv2d(x, weight, styles, up=up, down=down, impl=impl)
    cotangent = torch.randn(ours.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    ours.backward(cotangent.to(device=device, dtype=dtype))
    exact = [t.clone().requires_grad_() for t in problem]
    want = reference.modulated_conv2d(*exact, up=up, down=down)
    want.backward(cotangent)
    assert ours.dtype == dtype and all(t.grad.dtype == dtype for t in (x, weight, styles))
    eps = torch.finfo(dtype).eps
    for name, got, expected in [("value", ours, want)] + [
        (f"grad of {n}", t.grad, e.grad) for n, t, e in zip(("x", "weight", "styles"), (x, weight, styles), exact)
    ]:
        error = (got.detach().cpu().double() - expected.detach()).abs().max().item()
        assert error <= 4 * eps * expected.abs().max().item(), f"{name}: error {error:.3g}"


def _rosinality_modulated_conv(
    x, style, weight_param, mod_weight, mod_bias, k, demodulate, upsample, downsample, blur_kernel=(1, 3, 3, 1)
):
    """The computation of rosinality/stylegan2-pytorch's ModulatedConv2d.forward (fused path),
    re-derived from its definitions: equalised-lr scales, EqualLinear modulation (bias init 1),
    Blur(make_kernel(blur_kernel) · factor², pad) around the resampling convolutions."""
    batch, in_ch, h, w = x.shape
    out_ch = weight_param.shape[1]
    scale = 1 / math.sqrt(in_ch * k * k)
    s = F.linear(style, mod_weight * (1 / math.sqrt(style.shape[1])), bias=mod_bias)
    weight = scale * weight_param * s.view(batch, 1, in_ch, 1, 1)
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, out_ch, 1, 1, 1)
    weight = weight.view(batch * out_ch, in_ch, k, k)
    kern = torch.tensor(blur_kernel, dtype=x.dtype)
    kern = torch.outer(kern, kern) / kern.sum() ** 2
    factor = 2
    if upsample:
        p = (len(blur_kernel) - factor) - (k - 1)
        pad0, pad1 = (p + 1) // 2 + factor - 1, p // 2 + 1
        weight = weight.view(batch, out_ch, in_ch, k, k).transpose(1, 2).reshape(batch * in_ch, out_ch, k, k)
        out = F.conv_transpose2d(x.view(1, batch * in_ch, h, w), weight, padding=0, stride=2, groups=batch)
        out = out.view(batch, out_ch, *out.shape[2:])
        return reference.upfirdn2d(out, kern * factor**2, padding=[pad0, pad1, pad0, pad1]), s, scale
    if downsample:
        p = (len(blur_kernel) - factor) + (k - 1)
        pad0, pad1 = (p + 1) // 2, p // 2
        x = reference.upfirdn2d(x, kern, padding=[pad0, pad1, pad0, pad1])
        out = F.conv2d(x.view(1, batch * in_ch, *x.shape[2:]), weight, padding=0, stride=2, groups=batch)
        return out.view(batch, out_ch, *out.shape[2:]), s, scale
    out = F.conv2d(x.view(1, batch * in_ch, h, w), weight, padding=k // 2, groups=batch)
    return out.view(batch, out_ch, *out.shape[2:]), s, scale


@pytest.mark.parametrize("up, down", MODES)
@pytest.mark.parametrize("k", [1, 3])
def test_equals_rosinality_modulated_conv(device, up, down, k):
    g = torch.Generator().manual_seed(20 + k)
    batch, in_ch, out_ch, style_dim = 2, 6, 5, 8
    x = torch.randn(batch, in_ch, 8, 8, generator=g, dtype=torch.float64)
    style = torch.randn(batch, style_dim, generator=g, dtype=torch.float64)
    weight_param = torch.randn(1, out_ch, in_ch, k, k, generator=g, dtype=torch.float64)
    mod_weight = torch.randn(in_ch, style_dim, generator=g, dtype=torch.float64)
    mod_bias = torch.ones(in_ch, dtype=torch.float64)
    want, s, scale = _rosinality_modulated_conv(
        x, style, weight_param, mod_weight, mod_bias, k, True, up == 2, down == 2
    )
    f2d = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])).double() / 64
    for f in (None, f2d.to(device)):  # the default (1-D, separable) and rosinality's 2-D kernel
        ours = atu_ext.modulated_conv2d(
            x.to(device), (scale * weight_param[0]).to(device), s.to(device), up=up, down=down, resample_filter=f
        )
        torch.testing.assert_close(ours.cpu(), want, rtol=1e-10, atol=1e-10)


def test_batch_one_odd_sizes_and_channels_last(device):
    x, weight, styles = _problem(1, 3, 2, 3, (11, 5), seed=3, dtype=torch.float32, device=device)
    for up, down in MODES:
        want = reference.modulated_conv2d(x.cpu(), weight.cpu(), styles.cpu(), up=up, down=down)
        for xx in (x, x.contiguous(memory_format=torch.channels_last)):
            torch.testing.assert_close(
                atu_ext.modulated_conv2d(xx, weight, styles, up=up, down=down).cpu(), want, rtol=1e-4, atol=1e-4
            )


# ---- the fused modulation op -------------------------------------------------------------------


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulate_weight_values(device, demodulate):
    _, weight, styles = _problem(3, 7, 6, 3, (1, 1), seed=4, device=device)
    w, d = torch.ops.atu.modulate_weight(weight, styles, demodulate, 1e-8)
    a = weight[None] * styles[:, None, :, None, None]
    want_d = torch.rsqrt(a.square().sum(dim=(2, 3, 4)) + 1e-8) if demodulate else torch.ones(3, 6, dtype=a.dtype)
    torch.testing.assert_close(d.cpu(), want_d.cpu(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w.cpu(), (a * want_d.to(device)[:, :, None, None, None]).cpu(), rtol=1e-12, atol=1e-12)


def test_modulate_weight_gradients_through_both_outputs(device):
    _, weight, styles = _problem(2, 3, 2, 3, (1, 1), seed=5, device=device)
    weight.requires_grad_()
    styles.requires_grad_()

    def fn(wt, st):
        w, d = torch.ops.atu.modulate_weight(wt, st, True, 1e-8)
        return w, d

    assert torch.autograd.gradcheck(fn, (weight, styles))
    assert torch.autograd.gradgradcheck(fn, (weight, styles))


# ---- gradients of the whole op -----------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("up, down", MODES)
def test_gradcheck_and_gradgradcheck(device, up, down, impl):
    x, weight, styles = _problem(2, 2, 2, 3, (4, 4), seed=6, device=device)
    args = [t.requires_grad_() for t in (x, weight, styles)]

    def fn(x_, w_, s_):
        return atu_ext.modulated_conv2d(x_, w_, s_, up=up, down=down, impl=impl)

    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


@pytest.mark.parametrize("up, down", MODES)
def test_path_length_style_second_order_matches_reference(device, up, down):
    """The path-length regulariser's pattern: ‖∂(y·noise)/∂styles‖² differentiated again."""
    x0, w0, s0 = _problem(2, 4, 3, 3, (6, 6), seed=7)

    def grads(op, dev):
        x, w, s = (t.to(dev).requires_grad_() for t in (x0, w0, s0))
        y = op(x, w, s, up=up, down=down)
        noise = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape).to(dev)
        (gs,) = torch.autograd.grad((y * noise).sum(), s, create_graph=True)
        penalty = gs.square().sum() + torch.tanh(y).sum()
        return [g.cpu() for g in torch.autograd.grad(penalty, (x, w, s))]

    for ours, want in zip(grads(atu_ext.modulated_conv2d, device), grads(reference.modulated_conv2d, "cpu")):
        torch.testing.assert_close(ours, want, rtol=1e-9, atol=1e-9)


# ---- contracts ---------------------------------------------------------------------------------


def test_opcheck_modulate_weight(device):
    for dtype in (torch.float32, torch.float64):
        _, weight, styles = _problem(2, 3, 4, 3, (1, 1), seed=8, dtype=dtype, device=device)
        for demod in (True, False):
            result = torch.library.opcheck(
                torch.ops.atu.modulate_weight, (weight.requires_grad_(), styles.requires_grad_(), demod, 1e-8)
            )
            assert all(v == "SUCCESS" for v in result.values()), result


def test_torch_compile_stylegan2_block(device):
    """A generator block (upsampling modulated conv, modulated conv, ToRGB with skip upsample)."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(9)
    x, w1, s1 = _problem(2, 4, 4, 3, (4, 4), seed=10, dtype=torch.float32, device=device)
    w2 = (torch.randn(4, 4, 3, 3, generator=g) / 6).to(device)
    wrgb = (torch.randn(3, 4, 1, 1, generator=g) / 2).to(device)
    skip = torch.randn(2, 3, 4, 4, generator=g).to(device)
    blur = torch.tensor([1.0, 3, 3, 1], device=device) / 8

    def block(x, skip):
        h = F.leaky_relu(atu_ext.modulated_conv2d(x, w1, s1, up=2), 0.2) * math.sqrt(2)
        h = F.leaky_relu(atu_ext.modulated_conv2d(h, w2, s1), 0.2) * math.sqrt(2)
        rgb = atu_ext.modulated_conv2d(h, wrgb, s1, demodulate=False)
        return h, rgb + atu_ext.upfirdn2d(skip, blur, up=2, padding=[2, 1, 2, 1], gain=4.0)

    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")
    for a, b in zip(compiled(x, skip), block(x, skip)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(x=torch.zeros(2, 3, 8)), ValueError, r"x must be \[N, I, H, W\]"),
        (dict(weight=torch.zeros(4, 3, 3)), ValueError, r"weight must be \[O, I, kh, kw\]"),
        (dict(styles=torch.zeros(2, 3, 1)), ValueError, r"styles must be \[N, I\]"),
        (dict(styles=torch.ones(2, 5)), ValueError, "styles has 5 channels but weight has 3"),
        (dict(x=torch.zeros(2, 5, 8, 8)), ValueError, "x has 5 channels but weight has 3"),
        (dict(styles=torch.ones(3, 3)), ValueError, "styles has 3 samples but x has 2"),
        (dict(x=torch.zeros(2, 3, 8, 8, dtype=torch.int32)), TypeError, "x has dtype torch.int32"),
        (dict(weight=torch.zeros(4, 3, 3, 3, dtype=torch.float64)), TypeError, "weight is torch.float64 but x"),
        (dict(up=3), ValueError, "up must be 1 or 2"),
        (dict(up=2, down=2), ValueError, "cannot both be 2"),
        (dict(demodulate=1), TypeError, "demodulate must be a bool"),
        (dict(resample_filter=torch.ones(4, requires_grad=True)), ValueError, "resample_filter requires grad"),
        (dict(eps=-1.0), ValueError, "eps must be"),
    ],
)
def test_bad_input(change, error, match):
    args = dict(x=torch.zeros(2, 3, 8, 8), weight=torch.ones(4, 3, 3, 3), styles=torch.ones(2, 3))
    kwargs = {k: change.pop(k) for k in list(change) if k not in args}
    args.update(change)
    with pytest.raises(error, match=match):
        atu_ext.modulated_conv2d(args["x"], args["weight"], args["styles"], **kwargs)


def test_auto_picks_the_shared_weight_path_on_cpu_and_bad_impl_is_named():
    x, weight, styles = _problem(2, 4, 3, 3, (6, 6), seed=12)
    torch.testing.assert_close(
        atu_ext.modulated_conv2d(x, weight, styles, up=2),
        atu_ext.modulated_conv2d(x, weight, styles, up=2, impl="shared"),
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match="impl must be one of"):
        atu_ext.modulated_conv2d(x, weight, styles, impl="fused")
