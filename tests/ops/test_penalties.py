"""The fused penalties against float64 plain-PyTorch oracles (atu_ext.reference)."""

import math
import re

import pytest
import torch

import atu_ext
from atu_ext import reference as R
from tensor_cases import as_float64, make_tensors, sample_shapes

REDUCTIONS = ["sum", "mean", "tensor_mean"]
# float32 kernels (float64 sums) against a float64 oracle: errors are float32 rounding of inputs'
# differences, far below these tolerances; a wrong weight or a dropped tensor is far above them.
RTOL = 1e-5


def _case(seed, device, k, noncontiguous=False, dtype=torch.float32):
    shapes = sample_shapes(seed)
    params = make_tensors(shapes, seed=seed, device=device, dtype=dtype, noncontiguous=noncontiguous)
    refs = [
        make_tensors(shapes, seed=seed + 100 + j, device=device, dtype=dtype, noncontiguous=noncontiguous)
        for j in range(k)
    ]
    return params, refs


def _theta_n_arg(refs):
    return refs[0] if len(refs) == 1 else refs


def _grads_of(value, params):
    return torch.autograd.grad(value, params)


def assert_grads_close(grads, grads64, rtol=RTOL):
    """Elementwise rtol, plus an absolute slack of float32 rounding relative to the gradient's
    scale (a sum of k differences can cancel to ~0, where only absolute error is meaningful)."""
    scale = max(g.abs().max().item() for g in grads64 if g.numel()) or 1.0
    for g, g64 in zip(grads, grads64):
        torch.testing.assert_close(g.double().cpu(), g64.detach().double().cpu(), rtol=rtol, atol=1e-6 * scale)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_sq_dist_value_and_gradient(device, reduction, k, noncontiguous):
    params, refs = _case(seed=k * 7 + len(reduction), device=device, k=k, noncontiguous=noncontiguous)
    params = [p.requires_grad_() for p in params]
    d = atu_ext.sq_dist(params, _theta_n_arg(refs), reduction=reduction)
    p64 = as_float64(params, requires_grad=True)
    d64 = R.sq_dist(p64, [as_float64(r) for r in refs], reduction)
    assert d.dtype == torch.float32 and d.shape == () and d.device.type == device
    assert d.item() == pytest.approx(d64.item(), rel=RTOL)
    assert_grads_close(_grads_of(d, params), _grads_of(d64, p64))


REPULSIONS = {
    "il2": (atu_ext.repulsion_il2, R.repulsion_il2, {}),
    "nl2": (atu_ext.repulsion_nl2, R.repulsion_nl2, {}),
    "el2": (atu_ext.repulsion_el2, R.repulsion_el2, {"alpha": 3e-6}),
}


@pytest.mark.parametrize("kind", sorted(REPULSIONS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("k", [1, 3])
def test_repulsion_functions(device, kind, reduction, k):
    fused, oracle, kw = REPULSIONS[kind]
    if kind == "el2" and reduction != "sum":
        kw = {"alpha": 0.5}  # d is O(1) for the normalised reductions: keep exp(−αd) informative
    params, refs = _case(seed=31 + k, device=device, k=k)
    params = [p.requires_grad_() for p in params]
    value = fused(params, _theta_n_arg(refs), reduction=reduction, **kw)
    p64 = as_float64(params, requires_grad=True)
    value64 = oracle(p64, [as_float64(r) for r in refs], reduction=reduction, **kw)
    assert 0 < abs(value64.item()) < 1e30
    assert value.item() == pytest.approx(value64.item(), rel=RTOL)
    assert_grads_close(_grads_of(value, params), _grads_of(value64, p64))


def test_float64_inputs_give_float64_exact_results(device):
    params, refs = _case(seed=5, device=device, k=2, dtype=torch.float64)
    params = [p.requires_grad_() for p in params]
    d = atu_ext.sq_dist(params, refs, reduction="tensor_mean")
    d64 = R.sq_dist(params, refs, "tensor_mean")
    assert d.dtype == torch.float64
    assert d.item() == pytest.approx(d64.item(), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_params_accumulate_wide(device, dtype):
    # 16-bit inputs: every element is read exactly and widened, so the only errors are the float32
    # differences, squares and sums of four squares (rel ~1e-7) and the float32 result.
    params, refs = _case(seed=9, device=device, k=1, dtype=dtype)
    d = atu_ext.sq_dist(params, refs[0])
    d64 = R.sq_dist(as_float64(params), [as_float64(refs[0])])
    assert d.dtype == torch.float32
    assert d.item() == pytest.approx(d64.item(), rel=1e-5)


def test_ewc_penalty_value_and_gradient(device):
    shapes = sample_shapes(11)
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=1, device=device)]
    anchor = make_tensors(shapes, seed=2, device=device)
    fisher = [f.abs() for f in make_tensors(shapes, seed=3, device=device)]
    lam = 5e8 / 2
    e = atu_ext.ewc_penalty(params, anchor, fisher, lam=lam)
    p64 = as_float64(params, requires_grad=True)
    e64 = R.ewc_penalty(p64, as_float64(anchor), as_float64(fisher), lam=lam)
    assert e.item() == pytest.approx(e64.item(), rel=RTOL)
    assert_grads_close(_grads_of(e, params), _grads_of(e64, p64))


def test_full_generator_256_layout(device):
    """The real 110-tensor, 30.0M-value StyleGAN2 256×256 generator, k = 2, against float64."""
    from atu import layouts

    shapes = layouts.parameter_shapes("G256")
    params = make_tensors(shapes, seed=0, device=device, scale=0.1)
    refs = [make_tensors(shapes, seed=s, device=device, scale=0.1) for s in (1, 2)]
    d = atu_ext.sq_dist(params, refs)
    d64 = sum(((p.double() - a.double()) ** 2).sum() for r in refs for p, a in zip(params, r)) / 2
    assert sum(p.numel() for p in params) == 30_034_338
    assert d.item() == pytest.approx(d64.item(), rel=1e-6)


def test_the_bare_repulsion_call_repels_a_real_generator_and_a_vanishing_one_is_refused():
    """repulsion_el2(params, theta_n) with its defaults on the StyleGAN2 256×256 generator's 110
    tensors, θ_N an adaptation 0.01 away per value: a non-zero gradient on every tensor. With the
    paper's sum distance and α = 1, d is about 3,000 and exp(−d) is 0 in float32: refused, naming
    the distance and an α that fits, by the function and by Repulsion alike."""
    from atu import layouts

    shapes = layouts.parameter_shapes("G256")
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=0, scale=0.1)]
    theta_n = [p.detach() + 0.01 * n for p, n in zip(params, make_tensors(shapes, seed=1))]
    loss = atu_ext.repulsion_el2(params, theta_n)
    assert 0 < loss.item() < 1
    assert all(bool(g.abs().sum() > 0) for g in torch.autograd.grad(loss, params))
    rep = atu_ext.Repulsion(params, [theta_n])
    assert rep().item() == pytest.approx(loss.item(), rel=1e-6)

    d_sum = sum(float(((p.detach().double() - t.double()) ** 2).sum()) for p, t in zip(params, theta_n))
    assert 2_000 < d_sum < 5_000
    with pytest.raises(ValueError, match=r"repulsion_el2: exp\(−α·d\) underflows to 0") as refused:
        atu_ext.repulsion_el2(params, theta_n, alpha=1.0, reduction="sum")
    message = str(refused.value)
    said_d = float(re.search(r"d = ([0-9.e+]+) \(reduction='sum', α = 1\)", message).group(1))
    said_alpha = float(re.search(r"α = ([0-9.e+-]+) puts α·d at 1", message).group(1))
    assert said_d == pytest.approx(d_sum, rel=1e-3) and said_alpha == pytest.approx(1 / d_sum, rel=1e-2)
    assert "reduction='tensor_mean'" in message
    with pytest.raises(ValueError, match=r"Repulsion: exp\(−α·d\) underflows to 0"):
        atu_ext.Repulsion(params, [theta_n], alpha=1.0, reduction="sum")


# ---- training objects ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["il2", "nl2", "el2"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("preexisting_grad", [False, True])
def test_repulsion_add_grad_equals_autograd(device, kind, reduction, preexisting_grad):
    params, refs = _case(seed=21, device=device, k=3)
    params = [p.requires_grad_() for p in params]
    alpha = 1e-6 if reduction == "sum" else 0.5
    rep = atu_ext.Repulsion(params, refs, kind=kind, alpha=alpha, reduction=reduction)
    scale = 7.5
    # autograd through the functional API (independent of Repulsion's mean/constant collapse)
    functional = {"il2": atu_ext.repulsion_il2, "nl2": atu_ext.repulsion_nl2, "el2": atu_ext.repulsion_el2}[kind]
    kw = {"alpha": alpha} if kind == "el2" else {}
    value = functional(params, refs, reduction=reduction, **kw)
    expected = _grads_of(scale * value, params)
    start = [torch.randn_like(p) if preexisting_grad else None for p in params]
    for p, s in zip(params, start):
        p.grad = None if s is None else s.clone()
    loss = rep.add_grad_(scale=scale)
    assert loss.item() == pytest.approx(value.item(), rel=1e-5)
    assert rep().item() == pytest.approx(value.item(), rel=1e-5)
    assert_grads_close([p.grad for p in params], [g if s is None else g + s for g, s in zip(expected, start)])


def test_repulsion_call_is_differentiable_and_matches_oracle(device):
    params, refs = _case(seed=41, device=device, k=2)
    params = [p.requires_grad_() for p in params]
    rep = atu_ext.Repulsion(params, refs, kind="el2", alpha=2e-6)
    loss = rep()
    p64 = as_float64(params, requires_grad=True)
    loss64 = R.repulsion_el2(p64, [as_float64(r) for r in refs], alpha=2e-6)
    assert loss.item() == pytest.approx(loss64.item(), rel=1e-5)
    assert_grads_close(_grads_of(loss, params), _grads_of(loss64, p64))


def test_repulsion_references_are_copied(device):
    params, refs = _case(seed=3, device=device, k=1)
    rep = atu_ext.Repulsion(params, refs[0], kind="nl2")
    before = rep().item()
    for r in refs[0]:
        r.add_(1.0)  # the user's tensors change later; the prepared constants must not
    assert rep().item() == before


@pytest.mark.parametrize("preexisting_grad", [False, True])
def test_ewc_add_grad_equals_autograd(device, preexisting_grad):
    shapes = sample_shapes(13)
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=1, device=device)]
    anchor = make_tensors(shapes, seed=2, device=device)
    fisher = [f.abs() for f in make_tensors(shapes, seed=3, device=device)]
    ewc = atu_ext.EWC(params, anchor, fisher, lam=3.0)
    expected = _grads_of(0.5 * atu_ext.ewc_penalty(params, anchor, fisher, lam=3.0), params)
    start = [torch.randn_like(p) if preexisting_grad else None for p in params]
    for p, s in zip(params, start):
        p.grad = None if s is None else s.clone()
    value = ewc.add_grad_(scale=0.5)
    assert value.item() == pytest.approx(ewc().item(), rel=1e-6)
    assert_grads_close([p.grad for p in params], [g if s is None else g + s for g, s in zip(expected, start)])


def test_add_grad_writes_into_noncontiguous_grads(device):
    params, refs = _case(seed=17, device=device, k=1)
    params = [p.requires_grad_() for p in params]
    for p in params:  # transposed gradient buffers, as a user's optimizer might hold
        p.grad = torch.zeros(p.shape[::-1], device=device).T if p.dim() == 2 else torch.zeros_like(p)
    rep = atu_ext.Repulsion(params, refs[0], kind="nl2")
    rep.add_grad_()
    expected = _grads_of(atu_ext.repulsion_nl2(params, refs[0]), params)
    for p, g in zip(params, expected):
        torch.testing.assert_close(p.grad, g)


# ---- second order ------------------------------------------------------------------------------


def test_second_order_gradients(device):
    shapes = [(3, 4), (5,), (1,)]
    params = [t.requires_grad_() for t in make_tensors(shapes, seed=1, device=device, dtype=torch.float64)]
    refs = [make_tensors(shapes, seed=s, device=device, dtype=torch.float64) for s in (2, 3)]
    fisher = [f.abs() for f in make_tensors(shapes, seed=4, device=device, dtype=torch.float64)]
    for red in REDUCTIONS:
        assert torch.autograd.gradgradcheck(
            lambda *p: atu_ext.repulsion_el2(list(p), refs, alpha=0.3, reduction=red), params
        )
    assert torch.autograd.gradgradcheck(lambda *p: atu_ext.ewc_penalty(list(p), refs[0], fisher, lam=2.0), params)


def test_gradient_buffer_is_not_reused_while_a_previous_grad_is_alive():
    params, refs = _case(seed=23, device="cpu", k=1)
    params = [p.requires_grad_() for p in params]
    rep = atu_ext.Repulsion(params, refs[0], kind="nl2")
    rep.add_grad_(scale=1.0)
    kept = params[1].grad  # a user keeps last step's gradient (e.g. for logging)
    kept_copy = kept.clone()
    for p in params:
        p.grad = None
    rep.add_grad_(scale=-3.0)
    assert torch.equal(kept, kept_copy)
    torch.testing.assert_close(params[1].grad, -3.0 * kept_copy)


def test_portable_cpu_loops_match_the_oracle():
    """The non-AVX2 loops, forced through ATU_CPU_ISA=baseline in a fresh process."""
    import os
    import subprocess
    import sys

    code = (
        "import torch, atu_ext\n"
        "from atu_ext import reference as R\n"
        "assert atu_ext._C.cpu_isa() == 'baseline'\n"
        "g = torch.Generator().manual_seed(0)\n"
        "shapes = [(513, 7), (1,), (0,), (40000,)]\n"
        "p = [torch.randn(*s, generator=g).requires_grad_() for s in shapes]\n"
        "a = [[torch.randn(*s, generator=g) for s in shapes] for _ in range(2)]\n"
        "f = [torch.rand(*s, generator=g) for s in shapes]\n"
        "for red in ('sum', 'mean', 'tensor_mean'):\n"
        "    for refs in (a[:1], a):\n"
        "        d = atu_ext.sq_dist(p, refs, reduction=red)\n"
        "        d64 = R.sq_dist([x.detach().double() for x in p], [[x.double() for x in r] for r in refs], red)\n"
        "        assert abs(d.item() / d64.item() - 1) < 1e-6, (red, d.item(), d64.item())\n"
        "rep = atu_ext.Repulsion(p, a, kind='el2', alpha=1e-5)\n"
        "rep.add_grad_()\n"
        "want = torch.autograd.grad(atu_ext.repulsion_el2(p, a, alpha=1e-5), p)\n"
        "assert all(torch.allclose(x.grad, w, rtol=1e-5, atol=1e-9) for x, w in zip(p, want))\n"
        "e = atu_ext.ewc_penalty(p, a[0], f, lam=2.0).item()\n"
        "e64 = R.ewc_penalty([x.detach().double() for x in p], [x.double() for x in a[0]],\n"
        "                    [x.double() for x in f], 2.0).item()\n"
        "assert abs(e / e64 - 1) < 1e-6\n"
        "print('BASELINE-OK')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd="/",
        env={**os.environ, "ATU_CPU_ISA": "baseline"},
        timeout=300,
    )
    assert "BASELINE-OK" in out.stdout, out.stdout + out.stderr


def test_single_tensor_params_and_k_single_tensor_references(device):
    g = torch.Generator().manual_seed(0)
    p = torch.randn(6, 5, generator=g).to(device)
    refs = [torch.randn(6, 5, generator=g).to(device) for _ in range(3)]
    d1 = atu_ext.sq_dist(p, refs[0])
    assert d1.item() == pytest.approx(((p.double() - refs[0].double()) ** 2).sum().item(), rel=1e-6)
    dk = atu_ext.sq_dist(p, refs)  # a list of tensors beside a single-tensor params: k references
    want = sum(((p.double() - r.double()) ** 2).sum().item() for r in refs) / 3
    assert dk.item() == pytest.approx(want, rel=1e-6)


def test_params_may_be_any_iterable_of_tensors():
    module = torch.nn.Linear(4, 3)
    refs = [torch.zeros_like(p) for p in module.parameters()]
    d = atu_ext.sq_dist(module.parameters(), refs)  # a generator, as G.parameters() returns
    want = sum((p.detach().double() ** 2).sum().item() for p in module.parameters())
    assert d.item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("kind", ["el2", "il2"])
def test_fresh_gradients_of_a_large_generator_are_the_closed_form(kind):
    """Fresh gradients above the streaming-store size: ∂d/∂p is written while d is summed and the
    buffer rescaled in place by scale·∂L/∂d, against the closed form in float64, on two steps (the
    second reuses the buffer)."""
    from atu import layouts

    shapes = layouts.parameter_shapes("G32")  # 17.4M values
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=0, scale=0.1)]
    ref = make_tensors(shapes, seed=1, scale=0.1)
    alpha, scale = 3e-6, 4.0
    rep = atu_ext.Repulsion(params, ref, kind=kind, alpha=alpha, reduction="sum")
    d64 = sum(float(((p.detach().double() - a.double()) ** 2).sum()) for p, a in zip(params, ref))
    if kind == "el2":
        loss64 = math.exp(-alpha * d64)
        factor = scale * -alpha * loss64
    else:
        loss64 = 1.0 / (d64 + 1e-12)
        factor = scale * -(loss64**2)
    for _ in range(2):
        for p in params:
            p.grad = None
        loss = rep.add_grad_(scale=scale)
        assert loss.item() == pytest.approx(loss64, rel=1e-6)
        assert_grads_close(
            [p.grad for p in params], [factor * 2.0 * (p.detach().double() - a.double()) for p, a in zip(params, ref)]
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_fresh_gradients_that_only_the_factor_lifts_out_of_underflow(device, dtype):
    """With reduction="tensor_mean", ∂d/∂p of a 2^20-value tensor 1e-3 from its reference is
    2·1e-3/2^20 ≈ 1.9e-9, below float16's smallest subnormal (6e-8); the gradient, scale·α times
    that, is about 1e-3. It must arrive whole in both 16-bit types."""
    n = 1 << 20
    param = torch.full((n,), 0.5, dtype=dtype, device=device).requires_grad_()
    ref = (param.detach().double() - 1e-3).to(dtype)
    rep = atu_ext.Repulsion([param], [ref], kind="el2", alpha=0.5, reduction="tensor_mean")
    scale = 1e6
    diff = param.detach().double() - ref.double()
    d64 = float((diff**2).mean())
    expected = scale * -0.5 * math.exp(-0.5 * d64) * 2.0 * diff / n
    rep.add_grad_(scale=scale)
    assert expected.abs().min().item() > 5e-4
    torch.testing.assert_close(param.grad.double(), expected, rtol=2e-2 if dtype == torch.bfloat16 else 2e-3, atol=0)


@pytest.mark.parametrize("penalty", ["sq_dist", "ewc"])
def test_large_plans_give_the_same_values_and_exact_gradients_whatever_the_store_path(penalty):
    """Above 8M values the CPU writes fresh gradients with streaming stores when they are 32-byte
    aligned, ordinary stores otherwise: value and gradient must not depend on which ran."""
    from atu import layouts

    shapes = layouts.parameter_shapes("G32")  # 17.4M values
    params = make_tensors(shapes, seed=0)
    anchor = make_tensors(shapes, seed=1)
    fisher = [f.abs() for f in make_tensors(shapes, seed=2)]
    scale = torch.tensor(-1.5, dtype=torch.float64)
    ops = torch.ops.atu

    def run(grads):
        if penalty == "sq_dist":
            return ops.sq_dist_value_and_grad_(grads, params, anchor, 1, "sum", scale, False)
        return ops.ewc_value_and_grad_(grads, params, anchor, fisher, 1.0, scale, False)

    value_only = (
        ops.sq_dist(params, anchor, 1, "sum") if penalty == "sq_dist" else ops.ewc_penalty(params, anchor, fisher, 1.0)
    )
    aligned = [torch.empty_like(p) for p in params]  # CPU allocations are 64-byte aligned
    total = sum(p.numel() for p in params)
    shifted_flat = torch.empty(total + 1)  # every view starts 4 bytes off 32-byte alignment
    shifted, offset = [], 1
    for p in params:
        shifted.append(shifted_flat[offset : offset + p.numel()].view(p.shape))
        offset += p.numel()
    assert shifted[0].data_ptr() % 32 != 0
    v_aligned, v_shifted = run(aligned), run(shifted)
    assert v_aligned.item() == value_only.item() == v_shifted.item()
    for p, a, f, g1, g2 in zip(params, anchor, fisher, aligned, shifted):
        # gradient factor −1.5 · 2 = −3 exactly, applied in float32 as the kernels do
        expected = (p - a) * -3.0 if penalty == "sq_dist" else (f * -3.0) * (p - a)
        assert torch.equal(g1, expected) and torch.equal(g2, expected)
