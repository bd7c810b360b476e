"""A StyleGAN2 synthesis block built from the three atu_ext ops: against the same block built from
the plain-PyTorch references, under autograd (incl. the R1/path-length second order), and under
torch.compile(fullgraph=True)."""

import math

import torch

import atu_ext
from atu_ext import reference as R

BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])


def _block(ops, x, latent, params):
    """rosinality's StyledConv(up) -> StyledConv -> ToRGB(with upsampled skip), in our op terms."""
    upfirdn2d, bias_act, modconv = ops
    f = BLUR / BLUR.sum()
    s1 = latent @ params["mod1"].T + 1.0
    h = modconv(x, params["w1"], s1, demodulate=True, up=2, resample_filter=f)
    h = h + params["noise_strength1"] * params["noise1"]
    h = bias_act(h, params["b1"], act="lrelu")
    s2 = latent @ params["mod2"].T + 1.0
    h = modconv(h, params["w2"], s2, demodulate=True)
    h = bias_act(h, params["b2"], act="lrelu")
    s_rgb = latent @ params["mod_rgb"].T + 1.0
    rgb = modconv(h, params["w_rgb"], s_rgb, demodulate=False)
    rgb = bias_act(rgb, params["b_rgb"])
    skip = upfirdn2d(params["skip"], f, up=2, padding=[2, 1, 2, 1], gain=4.0)  # ToRGB skip upsample
    return rgb + skip


def _params(c_in, c_out, size, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g)).to(dtype)

    style = 16
    return (
        {
            "mod1": rnd(c_in, style, scale=1 / math.sqrt(style)),
            "w1": rnd(c_out, c_in, 3, 3, scale=1 / math.sqrt(c_in * 9)),
            "noise1": rnd(1, 1, 2 * size, 2 * size),
            "noise_strength1": torch.tensor(0.1, dtype=dtype),
            "b1": rnd(c_out, scale=0.1),
            "mod2": rnd(c_out, style, scale=1 / math.sqrt(style)),
            "w2": rnd(c_out, c_out, 3, 3, scale=1 / math.sqrt(c_out * 9)),
            "b2": rnd(c_out, scale=0.1),
            "mod_rgb": rnd(c_out, style, scale=1 / math.sqrt(style)),
            "w_rgb": rnd(3, c_out, 1, 1, scale=1 / math.sqrt(c_out)),
            "b_rgb": rnd(3, scale=0.1),
            "skip": rnd(2, 3, size, size),
        },
        rnd(2, c_in, size, size),
        rnd(2, style),
    )


OURS = (atu_ext.upfirdn2d, atu_ext.bias_act, atu_ext.modulated_conv2d)
REFS = (R.upfirdn2d, R.bias_act, R.modulated_conv2d)


def test_block_matches_reference_block_and_its_gradients():
    params, x, latent = _params(8, 6, 5, dtype=torch.float64)
    x.requires_grad_()
    for p in params.values():
        p.requires_grad_()
    ours = _block(OURS, x, latent, params)
    ref = _block(REFS, x, latent, params)
    torch.testing.assert_close(ours, ref)
    weights = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * weights).sum(), [x, *params.values()], create_graph=True)
    g_ref = torch.autograd.grad((ref * weights).sum(), [x, *params.values()], create_graph=True)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)
    # R1-style second order: the gradient of ||∂out/∂x||² w.r.t. the weights
    h_ours = torch.autograd.grad(g_ours[0].square().sum(), [params["w1"], params["w2"]])
    h_ref = torch.autograd.grad(g_ref[0].square().sum(), [params["w1"], params["w2"]])
    for a, b in zip(h_ours, h_ref):
        torch.testing.assert_close(a, b)


def test_block_compiles_fullgraph():
    torch._dynamo.reset()
    params, x, latent = _params(8, 6, 5)
    eager = _block(OURS, x, latent, params)
    compiled = torch.compile(lambda x_, l_: _block(OURS, x_, l_, params), fullgraph=True)(x, latent)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
