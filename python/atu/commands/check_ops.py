"""`atu check-ops`: checks every atu_ext op on this machine against its float64 reference.

Run it right after installing, on the device you will train on. It prints one table (op, dtype,
check, max error, tolerance, pass, speed-up over the reference ops) and exits 1 if any check fails.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import torch

import atu_ext

from ..selfcheck import checks
from ..util.atomic import write_text
from ..util.devices import check_device
from ..util.provenance import provenance
from .options import UsageError, add_device_option, command_parser


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "check-ops", "check atu_ext's kernels on this machine against the references", __doc__
    )
    add_device_option(p)
    p.add_argument("--quick", action="store_true", help="small shapes and few timing repeats (seconds, not minutes)")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="OP",
        choices=["penalties", "upfirdn2d", "bias_act", "modulated_conv2d"],
        help="check only these ops",
    )
    p.add_argument("--json", metavar="FILE", help="also write the rows, the build and the machine to FILE")
    p.set_defaults(func=_main)


def format_table(rows) -> str:
    header = ("op", "dtype", "check", "max error", "tolerance", "pass", "speed-up")
    body = [
        (
            r.op,
            r.dtype,
            r.check + (f" ({r.note})" if r.note else ""),
            "" if r.error is None else f"{r.error:.2e}",
            "" if r.tolerance is None else f"{r.tolerance:.0e}",
            "ok" if r.passed else "FAIL",
            "" if r.speedup is None else f"{r.speedup:.2f}×",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    fmt = lambda line: "  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)])


def _main(args) -> int:

    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        raise UsageError(f"--device {args.device!r}: {err}") from err
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {args.device}: atu_ext has kernels for cpu and cuda only")
    if device.type == "cuda" and torch.cuda.is_available() and not atu_ext.built_with_cuda:
        print(
            "atu check-ops: FAIL: this atu_ext has no CUDA kernels (a CPU-only build). Rebuild it with a CUDA "
            "torch and nvcc: ATU_CUDA=ON pip install --no-build-isolation --no-deps --force-reinstall .",
            file=sys.stderr,
        )
        return 1  # a failed check, not bad input
    check_device(args.device)  # a device this machine lacks: exit 2
    info = atu_ext.build_info()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({info['cpu_loops']} loops)"
    print(
        f"atu check-ops on {where}: torch {torch.__version__}, atu_ext built against torch "
        f"{info['built_against_torch']}, CUDA kernels {info['cuda_kernels']}"
        + (f" for {info['cuda_architectures']}" if info["cuda_kernels"] else ""),
        flush=True,
    )
    started = time.perf_counter()
    rows = []
    for row in checks.run(device, quick=args.quick, ops=args.only):
        rows.append(row)
    print(format_table(rows))
    failed = [r for r in rows if not r.passed]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} checks passed in {time.perf_counter() - started:.1f} s"
        + (f"; FAILED: {', '.join(f'{r.op} {r.dtype} {r.check}' for r in failed)}" if failed else "")
    )
    if args.json:
        write_text(
            args.json,
            json.dumps(
                {
                    "device": str(device),
                    "device_name": where,
                    "quick": args.quick,
                    "rows": [asdict(r) for r in rows],
                    "provenance": provenance(),
                },
                indent=2,
            ),
        )
    return 1 if failed else 0
