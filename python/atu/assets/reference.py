"""A generator written as a reference to ship: its g_ema alone (what Ret-FID and a report's oracle
column sample; nothing trains from a reference, so its discriminator stays out of the package), with
the run's configuration and record as they were.

    python -m atu.assets.reference RUN/snapshots/model_24000.safetensors python/atu/assets/NAME.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import checkpoint as ckpt


def keep_g_ema(source: str | Path, destination: str | Path) -> Path:
    """Writes `source`'s g_ema section (bit for bit), configuration and metadata to `destination`."""
    model = ckpt.load_atu(source)
    if "g_ema" not in model.state_dicts:
        raise ValueError(f"{source}: no g_ema section (sections: {sorted(model.state_dicts)})")
    config = {"generator": model.config["generator"]}
    metadata = {**model.metadata, "shipped_sections": ["g_ema"]}
    return ckpt.save(
        destination,
        kind=model.kind,
        config=config,
        state_dicts={"g_ema": model.state_dicts["g_ema"]},
        metadata=metadata,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atu.assets.reference", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("destination")
    args = parser.parse_args(argv)
    print(keep_g_ema(args.source, args.destination))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
