"""Binary attribute tables in CelebA's format: `list_attr_celeba.txt` or its CSV variant."""

from __future__ import annotations

import csv
from pathlib import Path

import torch


def read_attributes(path: str | Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Returns (file names, {attribute: 0/1 int64 tensor per file}).

    Text format: a count line, a line of attribute names, then `name v1 v2 ...` rows with values 1/-1.
    CSV format: a header `image_id,attr1,...` then rows with 1/-1 (or 1/0) values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attributes file {path} does not exist")
    text = path.read_text()
    rows = [
        r
        for r in (
            csv.reader(text.splitlines())
            if path.suffix.lower() == ".csv"
            else (line.split() for line in text.splitlines())
        )
        if r
    ]
    if rows and len(rows[0]) == 1 and rows[0][0].isdigit():  # the text format's count line
        count, rows = int(rows[0][0]), rows[1:]
    else:
        count = None
    if not rows:
        raise ValueError(f"{path}: no attribute names")
    header = rows[0]
    names = header[1:] if len(header) > 1 and header[0].lower() in ("image_id", "filename", "file", "image") else header
    files, values = [], []
    for line_no, row in enumerate(rows[1:], start=3 if count is not None else 2):
        if len(row) != len(names) + 1:
            raise ValueError(f"{path}, line {line_no}: {len(row) - 1} values for {len(names)} attributes")
        try:
            vals = [int(v) for v in row[1:]]
        except ValueError as err:
            raise ValueError(f"{path}, line {line_no}: values must be 1/-1 or 1/0: {err}") from None
        if any(v not in (1, -1, 0) for v in vals):
            raise ValueError(f"{path}, line {line_no}: values must be 1/-1 or 1/0, got {row[1:]}")
        files.append(row[0])
        values.append(vals)
    if count is not None and count != len(files):
        raise ValueError(f"{path}: the count line says {count} images, the table has {len(files)}")
    table = torch.tensor(values, dtype=torch.int64).reshape(len(files), len(names)) > 0
    return files, {n: table[:, k].to(torch.int64) for k, n in enumerate(names)}
