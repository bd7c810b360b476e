"""The checks of `atu check-ops`: every atu_ext op on this machine's device, against the float64
references of atu_ext.reference (the test suite's oracles), on the shapes of real StyleGAN2 layers.

Per op and dtype: values and gradients (max error relative to the reference's largest magnitude,
against a tolerance set by the dtype), `torch.library.opcheck` (schema, fake kernel, autograd
registration), gradgradcheck where training differentiates twice (R1, path length), bitwise
repeatability of the penalties, and a short timing of the compiled op against the reference on
the same inputs. A check that raises is a failed row carrying the exception's message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

import atu_ext
from atu_ext import reference

from .. import layouts
from ..util.timing import median_seconds

# Largest error relative to max |reference| that each dtype may show: a few hundred roundings of
# its epsilon (float32 2^-24, float16 2^-11, bfloat16 2^-8) over the sums of a 3×3×512 convolution.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 5e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2}
DTYPE_NAMES = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


@dataclass
class Row:
    op: str
    dtype: str
    check: str
    error: float | None = None  # max error relative to the reference's scale
    tolerance: float | None = None
    passed: bool = True
    speedup: float | None = None  # reference time / compiled time
    note: str = ""


def dtypes_for(device: torch.device) -> list[torch.dtype]:
    """The dtypes the kernels support on `device`: CPU float32/float64, CUDA also the half types."""
    base = [torch.float32, torch.float64]
    return base + [torch.float16, torch.bfloat16] if device.type == "cuda" else base


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    ref64, ours64 = ref.detach().double(), ours.detach().double().to(ref.device)
    scale = ref64.abs().max().item() if ref64.numel() else 0.0
    diff = (ours64 - ref64).abs().max().item() if ref64.numel() else 0.0
    return diff / scale if scale > 0 else diff


def _compare(op, dtype, check, pairs) -> Row:
    """One row from (ours, reference) pairs: the worst relative error among them."""
    tol = TOLERANCE[dtype]
    error = max(relative_error(a, b) for a, b in pairs)
    finite = all(torch.isfinite(a.detach()).all().item() for a, _ in pairs)
    return Row(
        op, DTYPE_NAMES[dtype], check, error, tol, finite and error <= tol, note="" if finite else "non-finite values"
    )


def _guarded(op: str, dtype: str, check: str, fn: Callable[[], Row | list[Row]]) -> list[Row]:
    try:
        rows = fn()
    except Exception as exc:  # a check that crashes is a failure, reported, never hidden
        return [Row(op, dtype, check, passed=False, note=f"{type(exc).__name__}: {exc}"[:200])]
    return rows if isinstance(rows, list) else [rows]


def _randn(shape, *, seed: int, device, dtype, scale: float = 1.0) -> torch.Tensor:
    """The same numbers on every device: drawn in float64 on the CPU, then moved and cast."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(device, dtype)


def _speedup(compiled: Callable, ref: Callable, device, repeats: int) -> float:
    t_compiled = median_seconds(compiled, device, repeats)
    with atu_ext.use_ops("reference"):
        t_ref = median_seconds(ref, device, repeats)
    return t_ref / t_compiled


def _opcheck(op: str, target, args, dtype=torch.float64) -> Row:
    result = torch.library.opcheck(target, args)
    failed = {name: msg for name, msg in result.items() if msg != "SUCCESS"}
    return Row(
        op,
        DTYPE_NAMES[dtype],
        f"opcheck {target.name()}",
        passed=not failed,
        note="; ".join(f"{k}: {v}" for k, v in failed.items())[:200],
    )


def _gradgrad(op: str, fn, inputs) -> Row:
    ok = torch.autograd.gradgradcheck(fn, inputs, raise_exception=True)
    return Row(op, "float64", "gradgradcheck", passed=bool(ok))


# ---- the penalties ---------------------------------------------------------------------------


def _penalty_tensors(device, dtype, quick: bool, seed: int) -> list[torch.Tensor]:
    shapes = layouts.parameter_shapes("G32")
    if quick:  # a handful of the real shapes, every kind (conv, modulation, bias, noise strength)
        shapes = sorted({s for s in shapes if math.prod(s) <= 20_000}, key=str)[:12]
    return [_randn(s, seed=seed + i, device=device, dtype=dtype, scale=0.1) for i, s in enumerate(shapes)]


def check_penalties(device: torch.device, quick: bool) -> Iterator[Row]:
    for dtype in dtypes_for(device):
        name = DTYPE_NAMES[dtype]
        params = _penalty_tensors(device, dtype, quick, seed=0)
        refs = [_penalty_tensors(device, dtype, quick, seed=1000), _penalty_tensors(device, dtype, quick, seed=2000)]
        fisher = [t.abs() for t in _penalty_tensors(device, dtype, quick, seed=3000)]
        p64 = [t.detach().double().requires_grad_() for t in params]
        r64 = [[t.double() for t in ref] for ref in refs]
        f64 = [t.double() for t in fisher]

        def values():
            pairs = []
            for reduction in ("sum", "mean", "tensor_mean"):
                pairs.append(
                    (atu_ext.sq_dist(params, refs, reduction=reduction), reference.sq_dist(p64, r64, reduction))
                )
            pairs.append(
                (
                    atu_ext.ewc_penalty(params, refs[0], fisher, lam=3.0),
                    reference.ewc_penalty(p64, r64[0], f64, lam=3.0),
                )
            )
            return _compare("penalties", dtype, "values (sq_dist ×3 reductions, ewc)", pairs)

        # α·d ≈ 1, as in training: a fixed α would put exp(−α·d) below float32's range on the full
        # generator's distance (Repulsion refuses it) or compare gradients of almost nothing
        alpha = 1.0 / float(reference.sq_dist(p64, r64).detach())

        def repulsion_grads():
            leaves = [t.detach().clone().requires_grad_() for t in params]
            rep = atu_ext.Repulsion(leaves, refs, kind="el2", alpha=alpha, reduction="sum")
            loss = rep.add_grad_(scale=2.0)
            loss64 = 2.0 * reference.repulsion_el2(p64, r64, alpha=alpha, reduction="sum")
            grads64 = torch.autograd.grad(loss64, p64)
            return _compare(
                "penalties",
                dtype,
                "Repulsion el2 value + grad",
                [(loss * 2.0, loss64)] + list(zip([t.grad for t in leaves], grads64)),
            )

        def ewc_grads():
            leaves = [t.detach().clone().requires_grad_() for t in params]
            ewc = atu_ext.EWC(leaves, refs[0], fisher, lam=5.0)
            value = ewc.add_grad_()
            value64 = reference.ewc_penalty(p64, r64[0], f64, lam=5.0)
            grads64 = torch.autograd.grad(value64, p64)
            return _compare(
                "penalties",
                dtype,
                "EWC value + grad",
                [(value, value64)] + list(zip([t.grad for t in leaves], grads64)),
            )

        def repeatable():
            leaves = [t.detach().clone().requires_grad_() for t in params]
            rep = atu_ext.Repulsion(leaves, refs, kind="el2", alpha=alpha, reduction="sum")
            runs = []
            for _ in range(2):
                for t in leaves:
                    t.grad = None
                loss = rep.add_grad_()
                runs.append((loss.clone(), [t.grad.clone() for t in leaves]))
            same = torch.equal(runs[0][0], runs[1][0]) and all(
                torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1])
            )
            same = same and torch.equal(atu_ext.sq_dist(params, refs), atu_ext.sq_dist(params, refs))
            return Row(
                "penalties",
                name,
                "bitwise repeatable",
                passed=same,
                note="" if same else "two calls on the same inputs differ",
            )

        yield from _guarded("penalties", name, "values", values)
        yield from _guarded("penalties", name, "Repulsion", repulsion_grads)
        yield from _guarded("penalties", name, "EWC", ewc_grads)
        yield from _guarded("penalties", name, "repeatable", repeatable)
        if dtype == torch.float32:

            def speed():
                leaves = [t.detach().clone().requires_grad_() for t in params]
                rep = atu_ext.Repulsion(leaves, refs, kind="el2", alpha=alpha, reduction="sum")

                def loop():  # the per-tensor Python loop with autograd a user would write
                    for t in leaves:
                        t.grad = None
                    reference.repulsion_el2(leaves, refs, alpha=alpha, reduction="sum").backward()

                def fused():
                    for t in leaves:
                        t.grad = None
                    rep.add_grad_()

                n = sum(t.numel() for t in params)
                seconds_fused = median_seconds(fused, device, 3 if quick else 10)
                seconds_loop = median_seconds(loop, device, 3 if quick else 10)
                return Row(
                    "penalties",
                    name,
                    f"speed: Repulsion.add_grad_ vs the per-tensor loop, {n:,} values",
                    speedup=seconds_loop / seconds_fused,
                )

            yield from _guarded("penalties", name, "speed", speed)

    small = [
        _randn((3, 4), seed=1, device=device, dtype=torch.float64),
        _randn((5,), seed=2, device=device, dtype=torch.float64),
    ]
    ref_small = [t + 0.5 for t in small]
    yield from _guarded(
        "penalties",
        "float64",
        "opcheck",
        lambda: [
            _opcheck("penalties", torch.ops.atu.sq_dist.default, (small, ref_small, 1, "sum")),
            _opcheck(
                "penalties", torch.ops.atu.ewc_penalty.default, (small, ref_small, [t.abs() for t in ref_small], 2.0)
            ),
        ],
    )
    leaves = [t.clone().requires_grad_() for t in small]
    yield from _guarded(
        "penalties",
        "float64",
        "gradgradcheck",
        lambda: _gradgrad(
            "penalties", lambda *p: atu_ext.repulsion_el2(list(p), ref_small, alpha=0.1, reduction="sum"), leaves
        ),
    )


# ---- StyleGAN2's ops -----------------------------------------------------------------------------


def _blur_filter(device, dtype) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    return (f / f.sum()).to(device, dtype)


def _forward_backward(fn, inputs, dy_seed: int):
    """fn(*inputs) and the gradients of <fn(*inputs), dy> w.r.t. every input (dy fixed by seed)."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    y = fn(*leaves)
    dy = _randn(y.shape, seed=dy_seed, device=y.device, dtype=y.dtype)
    grads = torch.autograd.grad(y, leaves, dy)
    return [y, *grads]


def _against_reference(op, dtype, check, ours_fn, ref_fn, inputs, seed) -> Row:
    ours = _forward_backward(ours_fn, inputs, seed)
    ref = _forward_backward(ref_fn, [t.double() for t in inputs], seed)
    return _compare(op, dtype, check, list(zip(ours, ref)))


def _image_op_rows(op, device, quick, cases, opcheck_case, gradgrad_case) -> Iterator[Row]:
    """cases: [(label, inputs(device, dtype), ours, ref)]: values + grads per dtype and a speed row
    for float32; then opcheck (target, args(device)) and gradgradcheck (fn, inputs(device)) on small
    float64 inputs."""
    for dtype in dtypes_for(device):
        name = DTYPE_NAMES[dtype]
        for label, make, ours, ref in cases:
            yield from _guarded(
                op,
                name,
                label,
                lambda: _against_reference(op, dtype, f"{label}: value + grad", ours, ref, make(device, dtype), seed=7),
            )
        if dtype == torch.float32:
            label, make, ours, _ = cases[0]

            def speed():
                inputs = [t.requires_grad_() for t in make(device, dtype)]

                def step():
                    y = ours(*inputs)
                    torch.autograd.grad(y, inputs, torch.ones_like(y))

                return Row(
                    op,
                    name,
                    f"speed: {label} fwd+bwd vs reference",
                    speedup=_speedup(step, step, device, 3 if quick else 10),
                )

            yield from _guarded(op, name, "speed", speed)
    target, opcheck_args = opcheck_case
    yield from _guarded(op, "float64", "opcheck", lambda: _opcheck(op, target, opcheck_args(device)))
    fn, gradgrad_inputs = gradgrad_case
    yield from _guarded(
        op, "float64", "gradgradcheck", lambda: _gradgrad(op, fn, [t.requires_grad_() for t in gradgrad_inputs(device)])
    )


def check_upfirdn2d(device: torch.device, quick: bool) -> Iterator[Row]:
    n, c, r = (2, 16, 32) if quick else (4, 128, 128)

    def up_inputs(dev, dtype):  # ToRGB's skip upsample into a 256×256 generator's last block
        return [_randn((n, 3, r, r), seed=11, device=dev, dtype=dtype)]

    def blur_inputs(dev, dtype):  # the discriminator's blur before a stride-2 convolution
        return [_randn((n, c, r, r), seed=12, device=dev, dtype=dtype)]

    def up(impl, x):
        return impl(x, _blur_filter(x.device, x.dtype), up=2, padding=[2, 1, 2, 1], gain=4.0)

    def blur(impl, x):
        return impl(x, _blur_filter(x.device, x.dtype), padding=[2, 2, 2, 2])

    def down(impl, x):
        return impl(x, _blur_filter(x.device, x.dtype), down=2, padding=[1, 1, 1, 1])

    cases = [
        (f"up 2 [{n},3,{r},{r}]", up_inputs, lambda x: up(atu_ext.upfirdn2d, x), lambda x: up(reference.upfirdn2d, x)),
        (
            f"blur [{n},{c},{r},{r}]",
            blur_inputs,
            lambda x: blur(atu_ext.upfirdn2d, x),
            lambda x: blur(reference.upfirdn2d, x),
        ),
        (
            f"down 2 [{n},{c},{r},{r}]",
            blur_inputs,
            lambda x: down(atu_ext.upfirdn2d, x),
            lambda x: down(reference.upfirdn2d, x),
        ),
    ]

    def small(dev):
        return [_randn((1, 2, 5, 6), seed=13, device=dev, dtype=torch.float64)]

    yield from _image_op_rows(
        "upfirdn2d",
        device,
        quick,
        cases,
        (
            torch.ops.atu.upfirdn2d.default,
            lambda dev: [*small(dev), _blur_filter(dev, torch.float64), [2, 2], [1, 1], [2, 1, 2, 1], False, 4.0],
        ),
        (lambda x: up(atu_ext.upfirdn2d, x), small),
    )


def check_bias_act(device: torch.device, quick: bool) -> Iterator[Row]:
    n, c, r = (2, 32, 16) if quick else (4, 512, 32)

    def conv_inputs(dev, dtype):  # a StyledConv's output and its bias, 32×32 generator
        return [_randn((n, c, r, r), seed=21, device=dev, dtype=dtype), _randn((c,), seed=22, device=dev, dtype=dtype)]

    def linear_inputs(dev, dtype):  # a mapping-network layer
        return [_randn((16 * n, c), seed=23, device=dev, dtype=dtype), _randn((c,), seed=24, device=dev, dtype=dtype)]

    cases = [
        (
            f"lrelu [{n},{c},{r},{r}]",
            conv_inputs,
            lambda x, b: atu_ext.bias_act(x, b, act="lrelu"),
            lambda x, b: reference.bias_act(x, b, act="lrelu"),
        ),
        (
            f"lrelu [{16 * n},{c}]",
            linear_inputs,
            lambda x, b: atu_ext.bias_act(x, b, act="lrelu"),
            lambda x, b: reference.bias_act(x, b, act="lrelu"),
        ),
    ]

    def small(dev):
        return [
            _randn((2, 3, 4, 4), seed=25, device=dev, dtype=torch.float64),
            _randn((3,), seed=26, device=dev, dtype=torch.float64),
        ]

    yield from _image_op_rows(
        "bias_act",
        device,
        quick,
        cases,
        (torch.ops.atu.bias_act.default, lambda dev: [*small(dev), 1, "lrelu", 0.2, math.sqrt(2), None]),
        (lambda x, b: atu_ext.bias_act(x, b, act="lrelu"), small),
    )


def check_modulated_conv2d(device: torch.device, quick: bool) -> Iterator[Row]:
    n, c, r = (2, 16, 16) if quick else (4, 512, 32)

    def inputs(dev, dtype):  # a StyledConv of the 32×32 generator: weight already scaled, styles ≈ 1
        return [
            _randn((n, c, r, r), seed=31, device=dev, dtype=dtype),
            _randn((c, c, 3, 3), seed=32, device=dev, dtype=dtype, scale=1 / math.sqrt(9 * c)),
            (1 + 0.2 * _randn((n, c), seed=33, device="cpu", dtype=torch.float64)).to(dev, dtype),
        ]

    def conv(impl, up):
        return lambda x, w, s: impl(x, w, s, demodulate=True, up=up)

    cases = [
        (f"3×3 [{n},{c},{r},{r}]", inputs, conv(atu_ext.modulated_conv2d, 1), conv(reference.modulated_conv2d, 1)),
        (f"3×3 up 2 [{n},{c},{r},{r}]", inputs, conv(atu_ext.modulated_conv2d, 2), conv(reference.modulated_conv2d, 2)),
    ]

    def small(dev):
        return [
            _randn((2, 2, 5, 5), seed=34, device=dev, dtype=torch.float64),
            _randn((3, 2, 3, 3), seed=35, device=dev, dtype=torch.float64),
            _randn((2, 2), seed=36, device=dev, dtype=torch.float64),
        ]

    yield from _image_op_rows(
        "modulated_conv2d",
        device,
        quick,
        cases,
        (torch.ops.atu.modulate_weight.default, lambda dev: [*small(dev)[1:], True, 1e-8]),
        # the grouped path: the one that runs the fused modulation op (CPU's default avoids it)
        (lambda x, w, s: atu_ext.modulated_conv2d(x, w, s, demodulate=True, up=2, impl="grouped"), small),
    )


def check_registrations(device: torch.device) -> Iterator[Row]:
    """Every atu:: op has a kernel for the device's dispatch key (CPU; CUDA when built with it)."""
    names = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("atu::"))
    key = "CUDA" if device.type == "cuda" else "CPU"
    missing = [n for n in names if not torch._C._dispatch_has_kernel_for_dispatch_key(n, key)]
    yield Row(
        "registration",
        "-",
        f"{len(names)} atu:: ops have a {key} kernel",
        passed=bool(names) and not missing,
        note=("missing: " + ", ".join(missing)) if missing else "",
    )


CHECKS = {
    "penalties": check_penalties,
    "upfirdn2d": check_upfirdn2d,
    "bias_act": check_bias_act,
    "modulated_conv2d": check_modulated_conv2d,
}


def run(device: torch.device, quick: bool = False, ops: list[str] | None = None) -> Iterator[Row]:
    """Every row of the self-check on `device` (compiled mode: the kernels are what is checked)."""
    with atu_ext.use_ops("compiled"):
        yield from check_registrations(device)
        for name, check in CHECKS.items():
            if ops is None or name in ops:
                yield from check(device, quick)
