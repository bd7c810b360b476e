"""Morpho-MNIST's morphometrics of every real MNIST training digit (atu/data/morphometrics.py): the
percentiles that define Moon et al.'s features ("thick" = thickness in the top 10%, "slanted" = slant
in the top 10%) and the time the measurement takes, for the feature judges and the oracle of issue 37.

    python bench/experiments/mnist_morphometrics.py --processes 2 --out bench/results/experiments/X.json

Writes one JSON record: per measure the percentiles 1, 5, 10, 50, 90, 95, 99, mean and std, the
per-class median thickness, and the seconds per digit.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from multiprocessing import Pool

import torch

from atu.data import load_dataset
from atu.data.morphometrics import MEASURES, measure

PERCENTILES = (1, 5, 10, 50, 90, 95, 99)


def _measure_chunk(images: torch.Tensor) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    return measure(images)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N digits (a quick look)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = load_dataset("mnist", resolution=28)
    n = len(data) if args.limit is None else min(args.limit, len(data))
    images = torch.stack([data[i][0][:1] for i in range(n)])
    labels = torch.tensor([int(data[i][1]) for i in range(n)])
    chunks = list(torch.split(images, 500))
    start = time.time()
    with Pool(args.processes) as pool:
        parts = pool.map(_measure_chunk, chunks)
    seconds = time.time() - start
    values = {m: torch.cat([p[m] for p in parts]) for m in MEASURES}
    record = {
        "what": "Morpho-MNIST morphometrics of the MNIST training digits (atu.data.morphometrics.measure)",
        "machine": f"{platform.processor() or platform.machine()}, {args.processes} processes",
        "n": n,
        "seconds": round(seconds, 1),
        "ms_per_digit_per_process": round(1e3 * seconds * args.processes / n, 2),
        "measures": {
            m: {
                **{f"p{q}": round(float(torch.quantile(v, q / 100)), 4) for q in PERCENTILES},
                "mean": round(float(v.mean()), 4),
                "std": round(float(v.std()), 4),
            }
            for m, v in values.items()
        },
        "median_thickness_by_class": {
            str(c): round(float(values["thickness"][labels == c].median()), 4) for c in range(10)
        },
        "share_of_class_in_thick_top10": {
            str(c): round(
                float(((values["thickness"] >= torch.quantile(values["thickness"], 0.9)) & (labels == c)).sum())
                / max(1, int((values["thickness"] >= torch.quantile(values["thickness"], 0.9)).sum())),
                4,
            )
            for c in range(10)
        },
    }
    with open(args.out, "w") as fh:
        json.dump(record, fh, indent=1)
    print(json.dumps(record["measures"]["thickness"]), record["seconds"], "s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
