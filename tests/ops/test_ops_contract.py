"""What the ops promise beyond their values: determinism, registration contracts, torch.compile,
errors on bad input, IEEE special values, and no silent fallback when the build is missing."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import atu_ext
from tensor_cases import make_tensors, sample_shapes


def _case(device, k=1, seed=0, dtype=torch.float32):
    shapes = sample_shapes(seed)
    params = make_tensors(shapes, seed=seed, device=device, dtype=dtype)
    refs = [make_tensors(shapes, seed=seed + 1 + j, device=device, dtype=dtype) for j in range(k)]
    return shapes, params, refs


# ---- determinism -------------------------------------------------------------------------------


def test_bitwise_deterministic_across_calls_and_thread_counts(device):
    from atu import layouts

    shapes = layouts.parameter_shapes("G32")
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=0, device=device)]
    refs = [make_tensors(shapes, seed=s, device=device) for s in (1, 2)]
    rep = atu_ext.Repulsion(params, refs, kind="el2", alpha=1e-7)

    def run():
        for p in params:
            p.grad = None
        loss = rep.add_grad_(scale=3.0)
        return atu_ext.sq_dist(params, refs).item(), loss.item(), [p.grad.clone() for p in params]

    threads = torch.get_num_threads()
    try:
        first = run()
        second = run()
        torch.set_num_threads(1)
        single = run()
    finally:
        torch.set_num_threads(threads)
    for other in (second, single):
        assert other[0] == first[0] and other[1] == first[1]
        assert all(torch.equal(a, b) for a, b in zip(first[2], other[2]))


# ---- registration contracts --------------------------------------------------------------------


def _opcheck(op, args):
    result = torch.library.opcheck(op, args)
    assert all(v == "SUCCESS" for v in result.values()), result


def test_opcheck_every_op(device):
    shapes = [(4, 3), (7,), (1,), (2, 5, 3)]
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=0, device=device)]
    refs = make_tensors(shapes, seed=1, device=device) + make_tensors(shapes, seed=2, device=device)
    fisher = [f.abs() for f in make_tensors(shapes, seed=3, device=device)]
    scale = torch.tensor(2.0, dtype=torch.float64, device=device)
    ops = torch.ops.atu
    for reduction in ("sum", "mean", "tensor_mean"):
        _opcheck(ops.sq_dist.default, (params, refs, 2, reduction))
        _opcheck(ops.sq_dist_backward.default, (torch.tensor(1.5, device=device), params, refs, 2, reduction))
        grads = [torch.zeros_like(p) for p in params]
        _opcheck(
            ops.sq_dist_value_and_grad_.default, (grads, [p.detach() for p in params], refs, 2, reduction, scale, True)
        )
    _opcheck(ops.ewc_penalty.default, (params, refs[:4], fisher, 0.7))
    _opcheck(ops.ewc_penalty_backward.default, (torch.tensor(1.5, device=device), params, refs[:4], fisher, 0.7))
    grads = [torch.zeros_like(p) for p in params]
    _opcheck(ops.ewc_value_and_grad_.default, (grads, [p.detach() for p in params], refs[:4], fisher, 0.7, scale, True))


def test_torch_compile_fullgraph_repulsion_el2():
    torch._dynamo.reset()
    shapes = [(8, 4), (16,), (3, 3, 2)]
    params = [p.requires_grad_() for p in make_tensors(shapes, seed=0)]
    refs = make_tensors(shapes, seed=1)

    @torch.compile(fullgraph=True)
    def penalty(ps, rs):
        return 10.0 * atu_ext.repulsion_el2(ps, rs, alpha=0.01) + sum(p.sum() for p in ps)

    compiled = penalty(params, refs)
    eager = 10.0 * atu_ext.repulsion_el2(params, refs, alpha=0.01) + sum(p.sum() for p in params)
    assert compiled.item() == pytest.approx(eager.item(), rel=1e-6)
    g_compiled = torch.autograd.grad(compiled, params)
    g_eager = torch.autograd.grad(eager, params)
    for a, b in zip(g_compiled, g_eager):
        torch.testing.assert_close(a, b)


# ---- bad input -----------------------------------------------------------------------------------


def test_empty_params_rejected():
    with pytest.raises(ValueError, match="params is empty"):
        atu_ext.sq_dist([], [])


def test_integer_tensors_rejected():
    with pytest.raises(TypeError, match=r"params\[1\].*torch.int64"):
        atu_ext.repulsion_el2(
            [torch.zeros(3), torch.zeros(2, dtype=torch.int64)], [torch.zeros(3), torch.zeros(2, dtype=torch.int64)]
        )


def test_count_mismatch_names_both_counts():
    with pytest.raises(ValueError, match="theta_n has 1 tensors but params has 2"):
        atu_ext.repulsion_nl2([torch.zeros(3), torch.zeros(2)], [torch.zeros(3)])


def test_shape_mismatch_names_index_and_both_shapes():
    with pytest.raises(ValueError, match=r"theta_n\[1\]\[1\] \(shape \(2, 2\).*params\[1\] \(shape \(2,\)"):
        atu_ext.repulsion_il2(
            [torch.zeros(3), torch.zeros(2)], [[torch.zeros(3), torch.zeros(2)], [torch.zeros(3), torch.zeros(2, 2)]]
        )


def test_dtype_mismatch_names_both_dtypes():
    with pytest.raises(ValueError, match=r"anchor\[0\].*torch.float64.*params\[0\].*torch.float32"):
        atu_ext.ewc_penalty([torch.zeros(3)], [torch.zeros(3, dtype=torch.float64)], [torch.zeros(3)])


def test_mixed_param_dtypes_rejected():
    with pytest.raises(ValueError, match=r"params\[1\] is torch.float64 but params\[0\] is torch.float32"):
        atu_ext.sq_dist(
            [torch.zeros(3), torch.zeros(2, dtype=torch.float64)], [torch.zeros(3), torch.zeros(2, dtype=torch.float64)]
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_mismatch_names_both_devices():
    with pytest.raises(ValueError, match=r"theta_n\[0\].*cpu.*params\[0\].*cuda"):
        atu_ext.sq_dist([torch.zeros(3, device="cuda")], [torch.zeros(3)])


def test_device_mismatch_is_checked_without_a_gpu():
    # a meta tensor stands in for "another device" on a machine without a GPU
    with pytest.raises(ValueError, match=r"theta_n\[0\].*meta.*params\[0\].*cpu"):
        atu_ext.sq_dist([torch.zeros(3)], [torch.zeros(3, device="meta")])


def test_bad_reduction_and_hyperparameters():
    p, r = [torch.zeros(3)], [torch.ones(3)]
    with pytest.raises(ValueError, match="reduction must be one of"):
        atu_ext.sq_dist(p, r, reduction="max")
    with pytest.raises(ValueError, match="alpha must be finite"):
        atu_ext.repulsion_el2(p, r, alpha=float("nan"))
    with pytest.raises(ValueError, match="kind must be one of"):
        atu_ext.Repulsion(p, r, kind="l1")
    with pytest.raises(ValueError, match="all tensors are empty"):
        atu_ext.sq_dist([torch.zeros(0)], [torch.zeros(0)], reduction="mean")


def test_add_grad_refuses_frozen_params_before_writing_anything():
    params = [torch.zeros(3, requires_grad=True), torch.zeros(2)]
    rep = atu_ext.Repulsion(params, [torch.ones(3), torch.ones(2)], kind="nl2")
    with pytest.raises(ValueError, match=r"params\[1\] does not require grad"):
        rep.add_grad_()
    assert params[0].grad is None


# ---- special values --------------------------------------------------------------------------------


def test_zero_element_tensors_are_fine(device):
    params = [torch.zeros(0, 4, device=device), torch.full((3,), 2.0, device=device)]
    refs = [torch.zeros(0, 4, device=device), torch.zeros(3, device=device)]
    assert atu_ext.sq_dist(params, refs).item() == 12.0
    assert atu_ext.sq_dist(params, refs, reduction="tensor_mean").item() == 4.0
    assert atu_ext.sq_dist(params, refs, reduction="mean").item() == 4.0


def test_il2_at_zero_distance_is_one_over_eps(device):
    p = [torch.ones(5, device=device)]
    assert atu_ext.repulsion_il2(p, [torch.ones(5, device=device)], eps=1e-3).item() == pytest.approx(1e3)
    assert atu_ext.repulsion_il2(p, [torch.ones(5, device=device)]).item() == pytest.approx(1e12)


def test_nan_and_inf_propagate(device):
    p = [torch.tensor([1.0, float("nan")], device=device, requires_grad=True)]
    d = atu_ext.sq_dist(p, [torch.zeros(2, device=device)])
    assert torch.isnan(d)
    (g,) = torch.autograd.grad(d, p)
    assert torch.isnan(g[1]) and g[0].item() == 2.0
    q = [torch.tensor([float("inf"), 0.0], device=device)]
    assert atu_ext.sq_dist(q, [torch.zeros(2, device=device)]).item() == float("inf")
    assert atu_ext.repulsion_el2(q, [torch.zeros(2, device=device)]).item() == 0.0


# ---- no silent fallback ----------------------------------------------------------------------------


def test_import_without_compiled_extension_says_how_to_rebuild():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "atu_ext._C":
                    raise ImportError("simulated: no compiled module")
        sys.meta_path.insert(0, Block())
        try:
            import atu_ext
        except ImportError as e:
            print("IMPORT-ERROR:", e)
        else:
            print("IMPORTED")
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, cwd="/", timeout=120
    )
    assert "IMPORT-ERROR" in out.stdout, out.stdout + out.stderr
    assert "--no-build-isolation" in out.stdout and "atu_ext._C" in out.stdout
