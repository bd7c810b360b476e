"""Weights for a rosinality-layout StyleGAN2 made from each tensor's name alone, so that a test can
rebuild exactly the weights a fixture was computed from (tests/fixtures/rosinality) without storing
them: every tensor drawn from its own seeded generator (the CRC-32 of its name), at the scale of its
role; the blur kernels, which both implementations derive from [1, 3, 3, 1], are left as built."""

import zlib

import torch


def named_weights(shapes: dict[str, tuple[int, ...]], built: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for name, shape in shapes.items():
        if name.endswith(".kernel"):
            out[name] = built[name].clone()
            continue
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        values = torch.randn(tuple(shape), generator=g, dtype=torch.float64)
        if name.endswith("modulation.bias"):
            values = 1 + 0.1 * values  # initialised to 1 in both implementations
        elif name.endswith("bias") or name.endswith("noise.weight"):
            values = 0.1 * values
        out[name] = values.float()
    return out
