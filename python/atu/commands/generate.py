"""`atu generate`: images from a generator, as the peers' generate.py / gen_images.py make them.

    atu generate --gen model.safetensors --seeds 0-63 --out samples/
    atu generate --gen model.safetensors --seed 0 --n 16 --out grid/     (the demo report's grid)

With --seeds, one image per seed: sample 0 of that seed, the image every atu command that draws
from that seed starts with (banks, reports, evaluation). With --seed and --n, the first n samples of
one seed, as a feedback bank, a report's grid or `atu evaluate` draw them. Writes one PNG per image,
grid.png, and generate.json (the generator file and its sha256, the seeds, truncation, provenance).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import checkpoint
from ..util.atomic import write_text
from ..util.images import save_grid, save_png, to_uint8
from ..util.provenance import file_record, provenance
from ..util.validate import MAX_SEED, count_arg, seed_arg
from .options import UsageError, add_device_option, command_parser, device_option, existing_file

MAX_SEEDS = 100_000


def parse_seeds(text: str) -> list[int]:
    """'0-63', '1,5,9' or '0-3,10' as the list of seeds, in order; UsageError for anything else."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise UsageError(f"--seeds: {part.strip()!r} is not a seed or a range like 0-63") from None
        if not 0 <= first <= last <= MAX_SEED:
            raise UsageError(f"--seeds: {part.strip()!r} is not a range of seeds from 0 to {MAX_SEED:,}")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise UsageError(f"--seeds: more than {MAX_SEEDS:,} seeds")
        seeds.extend(range(first, last + 1))
    return seeds


def register(subparsers) -> None:
    p = command_parser(subparsers, "generate", "images from a generator: one per seed, or n of one seed", __doc__)
    p.add_argument("--gen", required=True, help="the generator's checkpoint (any format atu reads; its g_ema)")
    p.add_argument("--out", required=True, help="folder for the PNG files, grid.png and generate.json")
    p.add_argument("--seeds", help="one image per seed: 0-63, 1,5,9 or 0-3,10 (or --seed with --n)")
    p.add_argument("--seed", type=seed_arg, help="with --n: the first n samples of this seed")
    p.add_argument("--n", type=count_arg, help="with --seed: how many samples")
    p.add_argument("--truncation", type=float, default=1.0, help="ψ in (0, 1]; 1: none")
    p.add_argument(
        "--batch-size",
        type=count_arg,
        help="samples per forward pass (default: by resolution, 64 up to 181 px, 2 at 1024)",
    )
    p.add_argument("--force", action="store_true", help="write into an --out that already holds images")
    add_device_option(p)
    p.set_defaults(func=_main)


def _main(args) -> int:

    if (args.seeds is None) == (args.seed is None) or (args.seed is None) != (args.n is None):
        raise UsageError("say which images with either --seeds 0-63 or --seed S --n N")
    if not 0 < args.truncation <= 1:
        raise UsageError(f"--truncation must be in (0, 1] (1 = no truncation), got {args.truncation}")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.glob("*.png")) and not args.force)):
        raise UsageError(
            f"--out {out} "
            + ("is not a folder" if not out.is_dir() else "already holds images; pass --force to write over them")
        )
    gen = existing_file(args.gen, "--gen")
    device = device_option(args.device)
    G = checkpoint.load(gen).generator("g_ema", device=device).eval()
    with torch.no_grad():
        if seeds is not None:
            images = torch.cat([G.sample(1, seed=s, truncation=args.truncation).cpu() for s in seeds])
            names = [f"seed{s:04d}.png" for s in seeds]
        else:
            images = G.sample(args.n, seed=args.seed, truncation=args.truncation, batch_size=args.batch_size).cpu()
            names = [f"seed{args.seed:04d}_{i:05d}.png" for i in range(args.n)]
    out.mkdir(parents=True, exist_ok=True)
    for name, tile in zip(names, to_uint8(images)):
        save_png(tile, out / name)
    save_grid(images, out / "grid.png")
    record = {
        "generator": file_record(gen),
        "truncation": args.truncation,
        "images": len(names),
        **({"seeds": seeds} if seeds is not None else {"seed": args.seed, "n": args.n}),
        **provenance(),
    }
    write_text(out / "generate.json", json.dumps(record, indent=2))
    print(f"atu generate: {len(names)} images and grid.png in {out}")
    return 0
