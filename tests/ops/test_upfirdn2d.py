"""atu_ext.upfirdn2d against the zero-insertion + pad + conv2d oracle (atu_ext.reference):
StyleGAN2's configurations, awkward shapes and layouts, fuzzing, gradients of every order,
registration contracts and bad input."""

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import atu_ext
from atu_ext import reference

BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])
BLUR2D = torch.outer(BLUR, BLUR) / BLUR.sum() ** 2

# (name, up, down, padding, gain, input H×W, filter): what rosinality's/NVlabs' StyleGAN2 runs.
STYLEGAN2 = [
    ("torgb_upsample", 2, 1, [2, 1, 2, 1], 4.0, (8, 8), BLUR2D),  # Upsample (skip path)
    ("blur_after_convT_3x3", 1, 1, [1, 1, 1, 1], 4.0, (17, 17), BLUR2D),  # Blur after stride-2 convT
    ("blur_after_convT_1x1", 1, 1, [2, 2, 2, 2], 4.0, (15, 15), BLUR2D),  # p = 2 - 0 for a 1×1 kernel
    ("disc_blur_before_3x3_down", 1, 1, [2, 2, 2, 2], 1.0, (16, 16), BLUR2D),
    ("disc_blur_before_1x1_skip", 1, 1, [1, 1, 1, 1], 1.0, (16, 16), BLUR2D),
    ("nvlabs_downsample2d", 1, 2, [1, 1, 1, 1], 1.0, (16, 16), BLUR / BLUR.sum()),
    ("nvlabs_upsample2d", 2, 1, [2, 1, 2, 1], 4.0, (8, 8), BLUR / BLUR.sum()),
]


def _tol(dtype):
    return {
        torch.float64: dict(rtol=1e-10, atol=1e-10),
        torch.float32: dict(rtol=1e-5, atol=1e-5),
        torch.float16: dict(rtol=1e-2, atol=1e-2),
        torch.bfloat16: dict(rtol=5e-2, atol=5e-2),
    }[dtype]


def _check(device, x, f, dtype=torch.float32, **kw):
    """Our op in `dtype` on `device` vs the oracle in float64 on the CPU."""
    ours = atu_ext.upfirdn2d(x.to(device=device, dtype=dtype), f.to(device), **kw)
    want = reference.upfirdn2d(x.double().cpu(), f.double().cpu(), **kw)
    assert ours.shape == want.shape and ours.dtype == dtype and ours.device.type == device
    torch.testing.assert_close(ours.cpu().double(), want, **_tol(dtype))
    return ours


@pytest.mark.parametrize("case", STYLEGAN2, ids=[c[0] for c in STYLEGAN2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stylegan2_configurations(device, case, dtype):
    _, up, down, pad, gain, (h, w), f = case
    x = torch.randn(3, 5, h, w, generator=torch.Generator().manual_seed(1))
    _check(device, x, f, dtype, up=up, down=down, padding=pad, gain=gain)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(device, dtype):
    x = torch.randn(2, 4, 13, 9, generator=torch.Generator().manual_seed(2))
    _check(device, x, BLUR2D, dtype, up=2, padding=[2, 1, 2, 1], gain=4.0)


def test_separable_filter_equals_outer_product(device):
    x = torch.randn(2, 3, 11, 7, device=device, dtype=torch.float64)
    f = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64, device=device)
    for up, down, pad in [(1, 1, 1), (2, 1, [2, 1, 0, 3]), (1, 2, [1, 1, 1, 1]), ([3, 1], [1, 2], [0, 0, 2, -1])]:
        a = atu_ext.upfirdn2d(x, f, up=up, down=down, padding=pad, gain=3.0)
        b = atu_ext.upfirdn2d(x, torch.outer(f, f), up=up, down=down, padding=pad, gain=3.0)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_flip_filter_is_correlation(device):
    x = torch.randn(1, 2, 6, 9, generator=torch.Generator().manual_seed(3))
    f = torch.rand(3, 2, generator=torch.Generator().manual_seed(4))  # asymmetric: flipping matters
    a = _check(device, x, f, up=[2, 1], padding=[1, 0, 2, 1], flip_filter=True)
    b = _check(device, x, f, up=[2, 1], padding=[1, 0, 2, 1], flip_filter=False)
    assert not torch.allclose(a, b)
    # correlation with f == true convolution with f flipped
    c = atu_ext.upfirdn2d(x.to(device), f.flip([0, 1]).to(device), up=[2, 1], padding=[1, 0, 2, 1])
    torch.testing.assert_close(a, c)


@pytest.mark.parametrize(
    "shape, up, down, pad, fshape",
    [
        ((1, 1, 1, 1), 1, 1, [1, 2, 0, 3], (2, 2)),  # batch 1, single pixel
        ((1, 3, 7, 5), 2, 1, [-1, -2, 0, -1], (3, 3)),  # negative padding crops
        ((2, 2, 9, 13), 1, 3, [-2, 4, 3, -1], (4, 1)),  # odd sizes, down 3, mixed signs
        ((2, 1, 5, 6), [3, 2], [2, 3], [0, 1, 2, 0], (5, 3)),
        ((1, 2, 4, 4), 4, 4, 0, (1, 1)),  # 1-tap filter: pure resampling
    ],
)
def test_awkward_shapes(device, shape, up, down, pad, fshape):
    g = torch.Generator().manual_seed(5)
    _check(
        device,
        torch.randn(*shape, generator=g),
        torch.randn(*fshape, generator=g),
        torch.float64,
        up=up,
        down=down,
        padding=pad,
    )


def test_channels_last_input_gives_channels_last_output(device):
    x = torch.randn(2, 6, 10, 7, generator=torch.Generator().manual_seed(6))
    xl = x.to(device).contiguous(memory_format=torch.channels_last)
    y = atu_ext.upfirdn2d(xl, BLUR2D.to(device), up=2, padding=[2, 1, 2, 1], gain=4.0)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y.cpu(), reference.upfirdn2d(x, BLUR2D, up=2, padding=[2, 1, 2, 1], gain=4.0))
    # a non-contiguous view that is neither layout is read correctly too
    xt = x.to(device).transpose(2, 3)
    torch.testing.assert_close(
        atu_ext.upfirdn2d(xt, BLUR2D.to(device), down=2, padding=1).cpu(),
        reference.upfirdn2d(x.transpose(2, 3), BLUR2D, down=2, padding=1),
    )


def test_empty_batch(device):
    y = atu_ext.upfirdn2d(torch.zeros(0, 3, 8, 8, device=device), BLUR.to(device), up=2, padding=[2, 1, 2, 1])
    assert y.shape == (0, 3, 16, 16)


# ---- fuzzing -----------------------------------------------------------------------------------


@st.composite
def problems(draw):
    up = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    down = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    separable = draw(st.booleans())
    fh = draw(st.integers(1, 5))
    fw = fh if separable else draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    pad = [draw(st.integers(-3, 4)) for _ in range(4)]
    assume(h * up[1] + pad[2] + pad[3] >= fh and w * up[0] + pad[0] + pad[1] >= fw)
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w),
        fshape=(fh,) if separable else (fh, fw),
        up=up,
        down=down,
        pad=pad,
        flip=draw(st.booleans()),
        gain=draw(st.sampled_from([1.0, 0.5, 4.0])),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(p=problems())
def test_fuzz_forward_and_backward_vs_reference(device, p):
    g = torch.Generator().manual_seed(p["seed"])
    x = torch.randn(*p["shape"], generator=g, dtype=torch.float64)
    f = torch.randn(*p["fshape"], generator=g, dtype=torch.float64)
    kw = dict(up=p["up"], down=p["down"], padding=p["pad"], flip_filter=p["flip"], gain=p["gain"])
    xa, xb = x.to(device, copy=True).requires_grad_(), x.clone().requires_grad_()
    ours, want = atu_ext.upfirdn2d(xa, f.to(device), **kw), reference.upfirdn2d(xb, f, **kw)
    torch.testing.assert_close(ours.cpu(), want, rtol=1e-10, atol=1e-10)
    dy = torch.randn(want.shape, generator=g, dtype=torch.float64)
    ours.backward(dy.to(device))
    want.backward(dy)
    torch.testing.assert_close(xa.grad.cpu(), xb.grad, rtol=1e-10, atol=1e-10)


# ---- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "up, down, pad, fshape",
    [(2, 1, [2, 1, 2, 1], (4,)), (1, 2, [1, 1, 1, 1], (4, 4)), ([3, 1], [1, 2], [-1, 2, 0, 1], (3, 2))],
)
def test_gradcheck_and_gradgradcheck(device, up, down, pad, fshape):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 5, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    f = torch.randn(*fshape, generator=g, dtype=torch.float64).to(device)

    def fn(t):
        return atu_ext.upfirdn2d(t, f, up=up, down=down, padding=pad, gain=1.5)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_third_order_gradient_matches_reference(device):
    """A nonlinearity between the ops makes every derivative order non-trivial."""
    x0 = torch.randn(1, 2, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))

    def third(op, dev):
        x = x0.to(dev).requires_grad_()
        y = (
            op(
                torch.sin(op(x, BLUR.double().to(dev), up=2, padding=[2, 1, 2, 1])),
                BLUR.double().to(dev),
                down=2,
                padding=1,
            )
            .pow(3)
            .sum()
        )
        (g1,) = torch.autograd.grad(y, x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.pow(2).sum(), x, create_graph=True)
        (g3,) = torch.autograd.grad(g2.sum(), x)
        return g3.cpu()

    torch.testing.assert_close(third(atu_ext.upfirdn2d, device), third(reference.upfirdn2d, "cpu"))


# ---- contracts ---------------------------------------------------------------------------------


def test_opcheck(device):
    g = torch.Generator().manual_seed(9)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 3, 6, 5, generator=g).to(device=device, dtype=dtype).requires_grad_()
        for args in (
            [BLUR.to(device), [2, 2], [1, 1], [2, 1, 2, 1], False, 4.0],
            [BLUR2D.to(device), [1, 1], [2, 2], [1, 1, 1, 1], True, 1.0],
        ):
            result = torch.library.opcheck(torch.ops.atu.upfirdn2d, (x, *args))
            assert all(v == "SUCCESS" for v in result.values()), result
    xl = torch.randn(2, 3, 6, 5, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    result = torch.library.opcheck(
        torch.ops.atu.upfirdn2d, (xl, BLUR2D.to(device), [1, 1], [2, 2], [1, 1, 1, 1], False, 1.0)
    )
    assert all(v == "SUCCESS" for v in result.values()), result


def test_torch_compile_fullgraph(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True, backend="aot_eager")
    def block(x):
        return torch.relu(atu_ext.upfirdn2d(x, BLUR.to(device), up=2, padding=[2, 1, 2, 1], gain=4.0))

    x = torch.randn(2, 3, 8, 8, device=device)
    torch.testing.assert_close(
        block(x), torch.relu(atu_ext.upfirdn2d(x, BLUR.to(device), up=2, padding=[2, 1, 2, 1], gain=4.0))
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=torch.zeros(3, 8, 8)), ValueError, r"x must be \[N, C, H, W\]"),
        (dict(x=torch.zeros(1, 1, 8, 8, dtype=torch.int64)), TypeError, "x has dtype torch.int64"),
        (dict(f=torch.zeros(2, 2, 2)), ValueError, "f must be 1-D"),
        (dict(f=torch.zeros(0)), ValueError, "f is empty"),
        (dict(f=torch.ones(4, dtype=torch.int32)), TypeError, "f has dtype"),
        (dict(f=torch.ones(4, requires_grad=True)), ValueError, "f requires grad"),
        (dict(f=[1.0, 3.0, 3.0, 1.0]), TypeError, "f must be a tensor"),
        (dict(up=0), ValueError, r"up\[0\] must be >= 1"),
        (dict(down=[1, -1]), ValueError, r"down\[1\] must be >= 1"),
        (dict(up=[1, 2, 3]), ValueError, "up must be an int or"),
        (dict(up=1.5), TypeError, "up must be an int"),
        (dict(padding=[1, 2, 3]), ValueError, "padding must have 1, 2 or 4 values"),
        (dict(padding=[1, 2.0]), TypeError, r"padding\[1\] must be an int"),
        (dict(padding=-3), ValueError, "larger than the upsampled, padded input"),
        (dict(f=torch.ones(9, 9)), ValueError, "larger than the upsampled, padded input"),
        (dict(flip_filter=1), TypeError, "flip_filter must be a bool"),
        (dict(gain=float("nan")), TypeError, "gain must be a finite number"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = dict(x=torch.zeros(1, 1, 4, 4), f=torch.ones(4), up=1, down=1, padding=0, flip_filter=False, gain=1.0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        atu_ext.upfirdn2d(**args)


@pytest.mark.parametrize("perturb", [0.0, 1e-3], ids=["rank_one", "nearly_rank_one"])
def test_rank_one_2d_filter_paths(device, perturb):
    """A 2-D outer-product filter runs as two 1-D passes on the CPU, a nearly rank-one one as a
    full 2-D filter: both must match the oracle, for unequal row and column factors."""
    g = torch.Generator().manual_seed(11)
    f = torch.outer(torch.rand(3, generator=g) + 0.5, torch.rand(5, generator=g) - 0.5)
    f[1, 2] += perturb
    x = torch.randn(2, 3, 10, 9, generator=g)
    for dtype in (torch.float32, torch.float64):
        for kw in (dict(up=[2, 1], padding=[2, 1, 1, 2]), dict(down=[1, 2], padding=[-1, 3, 2, 0], flip_filter=True)):
            _check(device, x, f, dtype, gain=2.0, **kw)
