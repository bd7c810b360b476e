"""`atu extrapolate`: the parameter-space baseline of the paper's Figure 1 and "Extrapolation" column.

    θ_s = θ_G + s · (θ_G − mean_j θ_N^j)

s > 0 moves the generator away from the adapted models (the authors' code writes the same family as
θ_G + s'·mean_j(θ_N^j − θ_G) with s' = −s, sweeping s' from 0 to −1.9); s = 0 is θ_G itself and
s = −1 is the mean adapted model. Only parameters move; buffers (noise maps, blur kernels) stay θ_G's.
No training: every θ_s is written as a model file (g_ema, and θ_G's d so later stages can start from
it) plus one strip image: the same latents under every s, one row per s.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .. import checkpoint as ckpt
from ..util.images import save_grid
from ..util.provenance import file_record, provenance
from .inputs import adapted_model_files, load_adapted, load_pretrained

DEFAULT_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 1.9)


def mean_reference(references: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """mean_j θ_N^j tensor by tensor, in float64 (computed once for every s)."""
    return [torch.stack([t.to(torch.float64) for t in tensors]).mean(0) for tensors in zip(*references)]


def extrapolated_parameters(
    theta_g: Sequence[torch.Tensor], mean_n: Sequence[torch.Tensor], s: float
) -> list[torch.Tensor]:
    """θ_G + s·(θ_G − mean_n), tensor by tensor, in float64 and cast back."""
    return [(g.to(torch.float64) + s * (g.to(torch.float64) - m)).to(g.dtype) for g, m in zip(theta_g, mean_n)]


def extrapolated_generator(G: nn.Module, mean_n: Sequence[torch.Tensor], s: float) -> nn.Module:
    """A copy of G whose parameters are θ_s."""
    moved = copy.deepcopy(G)
    with torch.no_grad():
        for p, value in zip(moved.parameters(), extrapolated_parameters(list(G.parameters()), mean_n, s)):
            p.copy_(value)
    return moved


def scale_name(s: float) -> str:
    return f"s{s:+.2f}".replace(".", "p")


def extrapolate(
    gen: str | os.PathLike,
    adapted,
    out: str | os.PathLike,
    scales: Sequence[float] = DEFAULT_SCALES,
    *,
    n_strip: int = 8,
    seed: int = 0,
    force: bool = False,
    device: str = "cpu",
) -> list[Path]:
    """Writes out/<s>.safetensors for every s and out/strip.png; returns the model files."""
    scales = [float(s) for s in scales]
    if not scales or any(not math.isfinite(s) for s in scales) or len(set(scales)) != len(scales):
        raise ValueError(f"scales must be distinct finite numbers, got {scales}")
    if n_strip < 1:
        raise ValueError(f"n_strip must be >= 1, got {n_strip}")
    out = Path(out)
    files = [out / f"{scale_name(s)}.safetensors" for s in scales]
    existing = [str(f) for f in files + [out / "strip.png"] if f.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists; pass --force to overwrite")
    adapted_files = adapted_model_files(adapted)
    G, D = load_pretrained(gen, device=device)
    mean_n = mean_reference(load_adapted(adapted_files, G))  # every input checked before anything is written
    z = torch.randn(n_strip, G.style_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    noise = G.make_noise(torch.Generator().manual_seed(seed + 1), batch=n_strip)
    rows = []
    for s, path in zip(scales, files):
        G_s = extrapolated_generator(G, mean_n, s).eval()
        ckpt.save(
            path,
            kind="stylegan2",
            config={"generator": G_s.config(), "discriminator": D.config()},
            state_dicts={"g_ema": G_s.state_dict(), "d": D.state_dict()},
            metadata={
                "extrapolation": {"s": s, "formula": "theta_G + s*(theta_G - mean_j theta_N^j)"},
                "gen": file_record(gen),
                "adapted": [file_record(f) for f in adapted_files],
                **provenance(),
            },
        )
        with torch.no_grad():
            img, _ = G_s([z], noise=[t.to(device) for t in noise])
        rows.append(img)
    save_grid(torch.cat(rows), out / "strip.png", nrow=n_strip, scale=2)
    return files
