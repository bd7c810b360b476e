"""The reference-ops mode (ATU_OPS=reference, --ops reference, atu_ext.use_ops): every op runs
through atu_ext.reference and the penalties through torch._foreach, with the same results as the
compiled kernels; and in compiled mode a device without kernels is refused, never fallen back from."""

import math
import os
import subprocess
import sys

import pytest
import torch

import atu_ext
from atu_ext import ops_mode, reference
from tensor_cases import as_float64, make_tensors, sample_shapes


def _grad_fn_names(t: torch.Tensor) -> set[str]:
    """Names of every autograd node behind t."""
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions)
    return names


def _uses_compiled_ops(t: torch.Tensor) -> bool:
    # torch.library names a registered op's autograd node GeneratedBackwardFor_atu_<op>...
    return any("_atu_" in name for name in _grad_fn_names(t))


def test_the_mode_switches_for_a_block_and_is_restored():
    assert ops_mode.current() == "compiled"
    with atu_ext.use_ops("reference"):
        assert ops_mode.current() == "reference"
        with atu_ext.use_ops("compiled"):
            assert ops_mode.current() == "compiled"
        assert ops_mode.current() == "reference"
    assert ops_mode.current() == "compiled"
    with pytest.raises(ValueError, match="unknown ops mode 'fast'"):
        with atu_ext.use_ops("fast"):
            pass


@pytest.mark.parametrize("reduction", ["sum", "mean", "tensor_mean"])
def test_reference_penalties_equal_the_float64_loop_and_the_kernels(reduction):
    shapes = sample_shapes(seed=3)
    params = make_tensors(shapes, seed=1, scale=0.1)
    refs = [make_tensors(shapes, seed=2, scale=0.1), make_tensors(shapes, seed=4, scale=0.1)]
    p64 = as_float64(params, requires_grad=True)
    d64 = reference.sq_dist(p64, [as_float64(r) for r in refs], reduction)
    (g64,) = [torch.autograd.grad(d64, p64)]
    leaves = [t.clone().requires_grad_() for t in params]
    with atu_ext.use_ops("reference"):
        d = atu_ext.sq_dist(leaves, refs, reduction=reduction)
    assert not _uses_compiled_ops(d)
    grads = torch.autograd.grad(d, leaves)
    assert d.dtype == torch.float32
    assert math.isclose(d.item(), d64.item(), rel_tol=1e-5)
    for g, ref in zip(grads, g64):
        torch.testing.assert_close(g.double(), ref, rtol=1e-5, atol=1e-7)
    compiled = atu_ext.sq_dist(params, refs, reduction=reduction)
    assert _uses_compiled_ops(atu_ext.sq_dist(leaves, refs, reduction=reduction))
    assert math.isclose(compiled.item(), d.item(), rel_tol=1e-5)


@pytest.mark.parametrize("kind", ["el2", "il2", "nl2"])
def test_reference_repulsion_and_ewc_gradients_equal_the_kernels(kind):
    shapes = sample_shapes(seed=5)
    base = make_tensors(shapes, seed=6, scale=0.1)
    refs = [make_tensors(shapes, seed=7, scale=0.1)]
    fisher = [t.abs() for t in make_tensors(shapes, seed=8)]
    results = {}
    for mode in ("compiled", "reference"):
        with atu_ext.use_ops(mode):
            leaves = [t.clone().requires_grad_() for t in base]
            for t in leaves[::2]:  # some gradients exist already: accumulate into them
                t.grad = torch.ones_like(t)
            rep = atu_ext.Repulsion(leaves, refs, kind=kind, alpha=0.05)
            loss = rep.add_grad_(scale=3.0)
            ewc = atu_ext.EWC(leaves, refs[0], fisher, lam=2.0)
            value = ewc.add_grad_(scale=0.5)
            autograd_value = ewc()
            results[mode] = (loss, value, autograd_value, [t.grad.clone() for t in leaves], rep.distance())
    (l_c, v_c, a_c, g_c, d_c), (l_r, v_r, a_r, g_r, d_r) = results["compiled"], results["reference"]
    for ours, theirs in ((l_r, l_c), (v_r, v_c), (a_r, a_c), (d_r, d_c)):
        assert math.isclose(float(ours.detach()), float(theirs.detach()), rel_tol=2e-5)
    for ours, theirs in zip(g_r, g_c):
        torch.testing.assert_close(ours, theirs, rtol=2e-5, atol=1e-7)


def test_reference_stylegan_ops_are_the_references_with_the_same_argument_checks():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 8
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    s = torch.rand(2, 3, dtype=torch.float64) + 0.5
    b = torch.randn(3, dtype=torch.float64)
    with atu_ext.use_ops("reference"):
        y_up = atu_ext.upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4.0)
        y_act = atu_ext.bias_act(x.requires_grad_(), b, act="lrelu")
        y_conv = atu_ext.modulated_conv2d(x, w, s, demodulate=True, up=2)
        with pytest.raises(ValueError, match="padding must have 1, 2 or 4 values"):
            atu_ext.upfirdn2d(x, f, padding=[1, 2, 3])  # checked before either implementation
    assert not _uses_compiled_ops(y_act)
    torch.testing.assert_close(y_up, reference.upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4.0), rtol=0, atol=0)
    torch.testing.assert_close(
        y_up, atu_ext.upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4.0), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(y_act, atu_ext.bias_act(x, b, act="lrelu"), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y_conv, atu_ext.modulated_conv2d(x, w, s, demodulate=True, up=2), rtol=1e-10, atol=1e-10)


def test_a_device_without_kernels_is_refused_naming_the_op_the_build_and_both_fixes():
    if atu_ext.built_with_cuda:
        pytest.skip("this build has CUDA kernels")
    with pytest.raises(atu_ext.OpsUnavailableError) as err:
        ops_mode.require_kernels("upfirdn2d", torch.device("cuda"))
    message = str(err.value)
    assert "atu_ext.upfirdn2d" in message and "CPU-only build" in message
    assert "ATU_CUDA=ON" in message and "ATU_OPS=reference" in message and "--ops reference" in message
    with atu_ext.use_ops("reference"):
        ops_mode.require_kernels("upfirdn2d", torch.device("cuda"))  # the references run anywhere
    ops_mode.require_kernels("upfirdn2d", torch.device("cpu"))
    ops_mode.require_kernels("upfirdn2d", torch.device("meta"))  # fake kernels: shape inference


def _python(code: str, **env):
    return subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )


def test_the_environment_sets_the_default_and_a_bad_value_is_refused_by_name():
    run = _python("import atu_ext; print(atu_ext.ops_mode.current())", ATU_OPS="reference")
    assert run.returncode == 0 and run.stdout.strip() == "reference", run.stderr
    bad = _python("import atu_ext", ATU_OPS="fastest")
    assert bad.returncode != 0 and "ATU_OPS" in bad.stderr and "'fastest'" in bad.stderr
    cli = _python("import sys; from atu.cli import main; sys.exit(main(['check-ops', '--quick']))", ATU_OPS="fastest")
    assert cli.returncode == 2 and "ATU_OPS" in cli.stderr and "Traceback" not in cli.stderr


def test_every_command_takes_ops_and_cuda_without_kernels_is_a_usage_error(monkeypatch):
    from atu.cli import build_parser
    from atu.commands.options import check_device

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert len(commands) >= 14
    for name, command in commands.items():
        assert any("--ops" in a.option_strings for a in command._actions), name
    if atu_ext.built_with_cuda:
        pytest.skip("this build has CUDA kernels")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU, but no kernels for it
    with pytest.raises(ValueError, match="--device cuda: atu_ext.ops: .*ATU_OPS=reference"):
        check_device("cuda")
    with atu_ext.use_ops("reference"):
        assert check_device("cuda") == "cuda"
