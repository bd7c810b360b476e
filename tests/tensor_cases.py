"""Random tensors on the real StyleGAN2 shape lists, shared by the tests.

(A module of its own, not conftest.py: `pytest tests bench` loads two conftest modules, and
`from conftest import ...` would get whichever came first.)
"""

import math
import random

import torch

from atu import layouts


def sample_shapes(seed: int, count: int = 8, max_numel: int = 200_000) -> list[tuple[int, ...]]:
    """A random list of real generator/discriminator shapes (capped in size to keep tests fast),
    plus the awkward cases: a 1-element and a zero-element tensor."""
    rng = random.Random(seed)
    pool = [s for name in ("G32", "G256", "D32") for s in layouts.parameter_shapes(name) if math.prod(s) <= max_numel]
    shapes = rng.sample(pool, count)
    shapes.insert(rng.randrange(len(shapes) + 1), (1,))
    shapes.insert(rng.randrange(len(shapes) + 1), (0, 3))
    return shapes


def make_tensors(
    shapes, *, seed: int, device="cpu", dtype=torch.float32, scale=1.0, noncontiguous: bool = False
) -> list[torch.Tensor]:
    """Random tensors of the given shapes; with noncontiguous, every tensor of rank >= 2 is a
    transposed (non-contiguous) view."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in shapes:
        if noncontiguous and len(s) >= 2 and math.prod(s) > 0:
            base = torch.randn(*s[:-2], s[-1], s[-2], generator=g, dtype=torch.float64) * scale
            t = base.to(device=device, dtype=dtype).transpose(-1, -2)
            assert not t.is_contiguous() or min(s[-2:]) == 1
        else:
            t = (torch.randn(*s, generator=g, dtype=torch.float64) * scale).to(device=device, dtype=dtype)
        out.append(t)
    return out


def as_float64(tensors, requires_grad=False):
    return [t.detach().double().requires_grad_(requires_grad) for t in tensors]
