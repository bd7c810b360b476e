"""atu_ext.bias_act against the plain-PyTorch reference (atu_ext.reference.bias_act): values,
gradients of first to third order, every activation, layout and dim; registration contracts
(opcheck, torch.compile); fuzzing; bad input."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import atu_ext
from atu_ext import reference
from atu_ext.bias_act import ACTIVATIONS

ACTS = sorted(ACTIVATIONS)
SMOOTH_ACTS = ["tanh", "sigmoid", "softplus", "swish"]  # infinitely differentiable everywhere
OPTION_SETS = [  # (alpha, gain, clamp): defaults, explicit values, clamping
    (None, None, None),
    (0.1, 0.5, None),
    (None, None, 0.6),
    (0.3, 2.0, 1.1),
]


def _bias_shape(x, dim):
    return [-1 if i == dim % x.ndim else 1 for i in range(x.ndim)]


def _reference_f(act, alpha=None, gain=None):
    """gain · act(z) as the reference computes it (no clamp): used to find clamp boundaries."""
    return lambda z: reference.bias_act(z, act=act, alpha=alpha, gain=gain)


def _away_from_kinks(x, b, dim, act, alpha, gain, clamp, margin=0.02):
    """x with the elements redrawn (from a seeded normal) until x + b is at least `margin` away
    from 0 (the kink of relu, lrelu, elu, selu) and gain·act(x + b) is that far from ±clamp, where
    the function has no derivative and finite differences (or roundings) could disagree."""
    x = x.detach().clone()
    f = _reference_f(act, alpha, gain)
    bb = 0 if b is None else b.detach().reshape(_bias_shape(x, dim))
    g = torch.Generator().manual_seed(1234)
    for _ in range(100):
        z = (x + bb).double()
        bad = z.abs() < margin
        if clamp is not None:
            bad |= (f(z).abs() - clamp).abs() < margin
        if not bad.any():
            return x
        redrawn = torch.randn(x.shape, generator=g, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
        x = torch.where(bad, redrawn, x)
    raise AssertionError("could not move the inputs away from the kinks")


def _random(shape, seed, device, dtype=torch.float64, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(device=device, dtype=dtype)


def _value_and_grads(fn, x, b, dy):
    """fn(x, b), and the gradients of <fn(x, b), dy> w.r.t. x and b."""
    x = x.detach().requires_grad_()
    b = None if b is None else b.detach().requires_grad_()
    y = fn(x, b)
    inputs = [x] if b is None else [x, b]
    grads = torch.autograd.grad(y, inputs, dy)
    return [y.detach(), *grads]


def _assert_close_all(got, want, **tol):
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w.double(), **tol)


# ---- values and first-order gradients against the reference --------------------------------------


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_matches_reference_every_dim_and_option(device, act, dtype):
    tol = {} if dtype == torch.float64 else dict(rtol=2e-5, atol=2e-6)
    shape = (2, 5, 4, 3)
    for dim in range(-1, len(shape)):
        for with_bias in (True, False):
            for k, (alpha, gain, clamp) in enumerate(OPTION_SETS):
                seed = 100 * dim + 10 * k + with_bias
                b = _random([shape[dim]], seed + 1, "cpu") if with_bias else None
                x = _away_from_kinks(_random(shape, seed, "cpu"), b, dim, act, alpha, gain, clamp)
                dy = _random(shape, seed + 2, "cpu")
                kw = dict(dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
                want = _value_and_grads(lambda x_, b_: reference.bias_act(x_, b_, **kw), x, b, dy)
                cast = [None if t is None else t.to(device=device, dtype=dtype) for t in (x, b, dy)]
                got = _value_and_grads(lambda x_, b_: atu_ext.bias_act(x_, b_, **kw), *cast)
                _assert_close_all(got, [w.to(device) for w in want], **tol)


def test_default_gains_and_alpha_are_stylegan2s():
    x = torch.linspace(-3, 3, 41, dtype=torch.float64)
    sqrt2 = math.sqrt(2)
    expected = {
        "linear": x,
        "relu": sqrt2 * x.clamp(min=0),
        "lrelu": sqrt2 * torch.where(x > 0, x, 0.2 * x),
        "tanh": torch.tanh(x),
        "sigmoid": 1 / (1 + torch.exp(-x)),
        "elu": torch.where(x > 0, x, torch.exp(x) - 1),
        "selu": 1.0507009873554804 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1)),
        "softplus": torch.log(1 + torch.exp(x)),
        "swish": sqrt2 * x / (1 + torch.exp(-x)),
    }
    assert set(expected) == set(ACTS)
    for act, want in expected.items():
        torch.testing.assert_close(atu_ext.bias_act(x, act=act), want, msg=act)


def test_clamp_applies_after_gain():
    x = torch.tensor([-5.0, -1.0, 0.5, 3.0], dtype=torch.float64)
    y = atu_ext.bias_act(x, act="linear", gain=2.0, clamp=4.0)
    torch.testing.assert_close(y, torch.tensor([-4.0, -2.0, 1.0, 4.0], dtype=torch.float64))
    assert torch.equal(atu_ext.bias_act(x, act="relu", clamp=0.0), torch.zeros_like(x))


# ---- layouts and shapes ------------------------------------------------------------------------------


def _layouts(device):
    """(name, x, dim) cases: every kernel loop shape (long channel runs, short runs, no channel)."""
    base = _random((3, 37, 19, 23), 1, device)  # 48k elements: several parallel tasks, odd sizes
    wide = _random((2, 6, 40, 9), 2, device)
    return [
        ("contiguous NCHW", base, 1),
        ("channels_last", base.to(memory_format=torch.channels_last), 1),
        ("transposed view", base.transpose(2, 3), 1),
        ("strided slice", wide[:, :, ::3, 1:], 1),
        ("short runs (dim=2, W=9)", wide, 2),
        ("innermost dim", wide, 3),
        ("batch 1", base[:1], 1),
        ("dense [N, C] (mapping network)", _random((16, 512), 3, device), 1),
        ("1-D", _random((11,), 4, device), 0),
        ("one channel", _random((4, 1, 3, 3), 5, device), 1),
        ("empty", _random((0, 5, 2, 2), 6, device), 1),
    ]


@pytest.mark.parametrize("act", ["lrelu", "swish"])
def test_layouts_and_odd_shapes(device, act):
    for name, x, dim in _layouts(device):
        b = _random([x.shape[dim]], 7, device)
        dy = _random(x.shape, 8, device)
        kw = dict(dim=dim, act=act, clamp=2.5)
        x = _away_from_kinks(x, b, dim, act, None, None, 2.5)
        want = _value_and_grads(lambda x_, b_: reference.bias_act(x_, b_, **kw), x, b, dy)
        got = _value_and_grads(lambda x_, b_: atu_ext.bias_act(x_, b_, **kw), x, b, dy)
        _assert_close_all(got, want, msg=lambda m, name=name: f"{name}: {m}")
        assert got[0].stride() == torch.empty_like(x).stride(), name


def test_output_keeps_channels_last(device):
    x = _random((2, 8, 5, 5), 0, device).to(memory_format=torch.channels_last)
    y = atu_ext.bias_act(x, _random([8], 1, device), act="lrelu")
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_thread_count_does_not_change_results():
    x = _random((3, 37, 19, 23), 1, "cpu", dtype=torch.float32).to(memory_format=torch.channels_last)
    b = _random([37], 2, "cpu", dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        first = atu_ext.bias_act(x, b, act="swish", clamp=1.0)
        torch.set_num_threads(1)
        single = atu_ext.bias_act(x, b, act="swish", clamp=1.0)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(first, single)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_computes_in_float32(device, dtype):
    x = _random((2, 6, 5, 5), 0, device, dtype=dtype)
    b = _random([6], 1, device, dtype=dtype)
    for act in ACTS:
        y = atu_ext.bias_act(x, b, act=act, clamp=3.0)
        assert y.dtype == dtype
        want = reference.bias_act(x.float(), b.float(), act=act, clamp=3.0).to(dtype)
        # one rounding of the float32 result, and at most one ulp from a different float32 path
        torch.testing.assert_close(y, want, rtol=1e-2 if dtype == torch.bfloat16 else 2e-3, atol=1e-3)


# ---- higher-order gradients ----------------------------------------------------------------------


def _gradcheck_inputs(act, alpha, gain, clamp, device, shape=(2, 3, 3, 2)):
    b = _random([shape[1]], 11, device)
    x = _away_from_kinks(_random(shape, 10, device), b, 1, act, alpha, gain, clamp, margin=0.01)
    return x.requires_grad_(), b.requires_grad_()


@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_and_gradgradcheck(device, act):
    for alpha, gain, clamp in [(None, None, None), (0.3, 2.0, 1.1)]:
        x, b = _gradcheck_inputs(act, alpha, gain, clamp, device)
        fn = lambda x_, b_: atu_ext.bias_act(x_, b_, act=act, alpha=alpha, gain=gain, clamp=clamp)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("act", ACTS)
def test_r1_style_penalty_gradient_matches_reference(device, act):
    """Second order as R1 uses it: d/d(x, b) of loss + ||d<y, w>/dx||², the gradient penalty taken
    with create_graph through the op (the loss term keeps a graph for the piecewise-linear acts,
    whose gradient penalty does not depend on x)."""
    kw = dict(act=act, alpha=0.25, gain=1.3, clamp=1.2)

    def penalty_grads(fn, x, b, w):
        x, b = x.detach().requires_grad_(), b.detach().requires_grad_()
        (gx,) = torch.autograd.grad((fn(x, b, **kw) * w).sum(), x, create_graph=True)
        return torch.autograd.grad(fn(x, b, **kw).sum() + gx.square().sum(), (x, b))

    x, b = _gradcheck_inputs(act, 0.25, 1.3, 1.2, device, shape=(3, 4, 5, 2))
    w = _random(x.shape, 12, device)
    got = penalty_grads(atu_ext.bias_act, x, b, w)
    want = penalty_grads(reference.bias_act, x, b, w)
    _assert_close_all(got, want)


@pytest.mark.parametrize("act", SMOOTH_ACTS + ["elu", "selu"])
def test_third_order_matches_reference(device, act):
    """d³/dx³ of Σ y through three nested autograd.grad calls: bias_act_grad orders 1, 2 and 3."""

    def third(fn, x, b):
        x = x.detach().requires_grad_()
        (g1,) = torch.autograd.grad(fn(x, b, act=act).sum(), x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = torch.autograd.grad(g2.sum(), x)
        return g3

    x, b = _gradcheck_inputs(act, None, None, None, device)
    torch.testing.assert_close(third(atu_ext.bias_act, x, b), third(reference.bias_act, x, b))


def test_fourth_order(device):
    x = _random((3, 4), 0, device).requires_grad_()

    def fourth(act):
        g = atu_ext.bias_act(x, act=act).sum()
        for _ in range(3):
            (g,) = torch.autograd.grad(g, x, create_graph=True)
            g = g.sum()
        return torch.autograd.grad(g, x, allow_unused=True)[0]

    assert torch.equal(fourth("lrelu"), torch.zeros_like(x))  # piecewise linear: zero, not an error
    with pytest.raises(NotImplementedError, match="order 4"):
        fourth("tanh")


@pytest.mark.parametrize(
    "act, gain, alpha, keeps",
    [
        ("lrelu", None, None, "y"),
        ("relu", 1.0, None, "y"),
        ("linear", 2.0, None, "y"),
        ("lrelu", -1.0, None, "x"),  # gain < 0: the sign of y no longer tells the side of the kink
        ("lrelu", None, -0.5, "x"),  # negative slope < 0: likewise
        ("swish", None, None, "x"),
    ],
)
def test_backward_keeps_output_for_piecewise_linear_acts(device, act, gain, alpha, keeps):
    """Which activation-sized tensor the backward holds on to (x or y), and that the gradients
    agree with the reference either way (with clamping)."""
    x = _random((2, 4, 3, 3), 0, device).requires_grad_()
    b = _random([4], 1, device).requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = atu_ext.bias_act(x, b, act=act, alpha=alpha, gain=gain, clamp=0.9)
    held = {t.data_ptr() for t in saved if t.shape == x.shape}
    assert held == {(y if keeps == "y" else x).data_ptr()}
    dy = _random(x.shape, 2, device)
    kw = dict(act=act, alpha=alpha, gain=gain, clamp=0.9)
    xs = _away_from_kinks(x, b, 1, act, alpha, gain, 0.9)
    want = _value_and_grads(lambda x_, b_: reference.bias_act(x_, b_, **kw), xs, b, dy)
    got = _value_and_grads(lambda x_, b_: atu_ext.bias_act(x_, b_, **kw), xs, b, dy)
    _assert_close_all(got, want)


# ---- registration contracts --------------------------------------------------------------------


def _opcheck(op, args):
    result = torch.library.opcheck(op, args)
    assert all(v == "SUCCESS" for v in result.values()), result


def test_opcheck_every_op(device):
    ops = torch.ops.atu
    x = _random((2, 4, 3, 3), 0, device).requires_grad_()
    x_cl = _random((2, 4, 3, 3), 1, device).to(memory_format=torch.channels_last).requires_grad_()
    b = _random([4], 2, device).requires_grad_()
    dy = _random((2, 4, 3, 3), 3, device).requires_grad_()
    for act in ("lrelu", "swish"):
        _opcheck(ops.bias_act.default, (x, b, 1, act, 0.2, 1.4, None))
        _opcheck(ops.bias_act.default, (x_cl, b, 1, act, 0.2, 1.4, 0.8))
        _opcheck(ops.bias_act.default, (x, None, 1, act, 0.2, 1.0, None))
        for order in (1, 2):
            _opcheck(ops.bias_act_grad.default, (dy, x, b, 1, act, 0.2, 1.4, 0.8, order))
        # Order 3 differentiated w.r.t. x would need order 4 (NotImplementedError for swish): only
        # dy requires grad here.
        _opcheck(ops.bias_act_grad.default, (dy, x.detach(), b.detach(), 1, act, 0.2, 1.4, 0.8, 3))
        _opcheck(ops.bias_act_grad.default, (dy, x_cl, None, 1, act, 0.2, 1.4, None, 1))
    for y in (x, x_cl):
        _opcheck(ops.bias_act_grad_from_output.default, (dy, y, "lrelu", 0.2, 1.4, 0.8))
        _opcheck(ops.bias_act_grad_from_output.default, (dy, y, "relu", 0.0, 1.0, None))


def test_torch_compile_fullgraph_with_backward():
    torch._dynamo.reset()

    def block(x, b):
        return atu_ext.bias_act(x, b, act="lrelu", clamp=256.0).square().mean()

    x = _random((2, 6, 5, 5), 0, "cpu", dtype=torch.float32).requires_grad_()
    b = _random([6], 1, "cpu", dtype=torch.float32).requires_grad_()
    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")(x, b)
    eager = block(x, b)
    torch.testing.assert_close(compiled, eager)
    _assert_close_all(torch.autograd.grad(compiled, (x, b)), torch.autograd.grad(eager, (x, b)))


# ---- fuzzing ---------------------------------------------------------------------------------------


@st.composite
def _cases(draw):
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    perm = draw(st.permutations(range(len(shape))))
    return dict(
        shape=shape,
        dim=dim,
        perm=perm,
        act=draw(st.sampled_from(ACTS)),
        with_bias=draw(st.booleans()),
        alpha=draw(st.one_of(st.none(), st.floats(0.0, 1.0))),
        gain=draw(st.one_of(st.none(), st.floats(-3.0, 3.0))),
        clamp=draw(st.one_of(st.none(), st.floats(0.1, 4.0))),
        seed=draw(st.integers(0, 2**16)),
    )


# derandomize: the same examples on every run and machine (reproducible CI); no example database
# directory in the checkout.
@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(case=_cases())
def test_fuzz_against_reference(case):
    shape, dim, perm = case["shape"], case["dim"], case["perm"]
    # A permuted dense layout: allocate in `perm` order, then view back in logical order.
    x = _random([shape[p] for p in perm], case["seed"], "cpu").permute(*torch.argsort(torch.tensor(perm)).tolist())
    assert list(x.shape) == shape
    b = _random([shape[dim]], case["seed"] + 1, "cpu") if case["with_bias"] else None
    kw = {k: case[k] for k in ("dim", "act", "alpha", "gain", "clamp")}
    # Only ties at the kinks matter here (values and first-order gradients, not finite differences).
    x = _away_from_kinks(x, b, dim, case["act"], case["alpha"], case["gain"], case["clamp"], margin=1e-6)
    dy = _random(shape, case["seed"] + 2, "cpu")
    want = _value_and_grads(lambda x_, b_: reference.bias_act(x_, b_, **kw), x, b, dy)
    got = _value_and_grads(lambda x_, b_: atu_ext.bias_act(x_, b_, **kw), x, b, dy)
    _assert_close_all(got, want)


# ---- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=torch.ones(2, 3, dtype=torch.int32)), TypeError, "x has dtype torch.int32"),
        (dict(x="not a tensor"), TypeError, "x must be a tensor"),
        (dict(b=torch.ones(3, dtype=torch.int64)), TypeError, "b has dtype torch.int64"),
        (dict(b=torch.ones(4)), ValueError, r"b must have shape \[3\] \(x.shape\[1\]\), got \[4\]"),
        (dict(b=torch.ones(1, 3)), ValueError, r"b must have shape \[3\]"),
        (dict(b=torch.ones(3, dtype=torch.float64)), TypeError, "b is torch.float64 but x is torch.float32"),
        (dict(dim=2), ValueError, "dim=2 is out of range for x with 2 dims"),
        (dict(dim=-3), ValueError, "dim=-3 is out of range"),
        (dict(dim=1.0), TypeError, "dim must be an int"),
        (dict(dim=True), TypeError, "dim must be an int"),
        (dict(x=torch.tensor(1.0)), ValueError, "x is 0-dimensional"),
        (dict(act="gelu"), ValueError, "act must be one of"),
        (dict(clamp=-1.0), ValueError, "clamp must be >= 0"),
        (dict(clamp=float("nan")), ValueError, "clamp must be finite"),
        (dict(gain="2"), TypeError, "gain must be a real number"),
        (dict(alpha=float("inf")), ValueError, "alpha must be finite"),
    ],
)
def test_bad_input_is_rejected_before_any_kernel(kwargs, error, match):
    args = dict(x=torch.ones(2, 3), b=torch.ones(3), dim=1, act="lrelu")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        atu_ext.bias_act(**args)


def test_direct_op_calls_are_checked_too():
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match="unknown act 'gelu'"):
        torch.ops.atu.bias_act(x, None, 1, "gelu", 0.0, 1.0, None)
    with pytest.raises(ValueError, match="order must be"):
        torch.ops.atu.bias_act_grad(x, x, None, 1, "tanh", 0.0, 1.0, None, 4)
    with pytest.raises(ValueError, match="order must be"):
        torch.ops.atu.bias_act_grad(x, x, None, 1, "tanh", 0.0, 1.0, None, 0)
    with pytest.raises(ValueError, match="b must have shape"):
        torch.ops.atu.bias_act(x, torch.ones(2), 1, "tanh", 0.0, 1.0, None)
    with pytest.raises(ValueError, match="act must be linear, relu or lrelu"):
        torch.ops.atu.bias_act_grad_from_output(x, x, "tanh", 0.0, 1.0, None)
    with pytest.raises(ValueError, match="dy has shape"):
        torch.ops.atu.bias_act_grad(torch.ones(3, 2), x, None, 1, "tanh", 0.0, 1.0, None, 1)
