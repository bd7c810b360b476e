"""Peak memory of the stage commands a user runs, at real generator sizes, for the memory model of
atu/stages/memory.py: each configuration (resolution, channel multiplier, batch) gets a random
StyleGAN2 in rosinality's layout (style 512, 8 mapping layers), a feedback bundle of 8 samples
(2 marked), then `atu adapt` (k 2, one step, 2 Fisher samples) and `atu unlearn` (one step), each a
process of its own whose peak resident memory is read from the kernel (wait4). Step 0 is the
heaviest step of a run: it applies R1 and the path-length term, and the run ends with its sample
grid, checkpoint and model files.

    python bench/experiments/stage_memory.py measure OUT.jsonl --configs 64:1:2 128:2:4 256:2:4 ...
    python bench/experiments/stage_memory.py fit OUT.jsonl        (least squares: atu/stages/memory.py's coefficients)
    python bench/experiments/stage_memory.py report OUT.jsonl     (measured against predicted)
    python bench/experiments/stage_memory.py phases RES:MULT:BATCH  (stage 1's peak, phase by phase)

A configuration is RES:CHANNEL_MULTIPLIER:BATCH. Records already in OUT.jsonl are not measured
again. The work folder is a temporary one, removed after each configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from atu.checkpoint import save_rosinality
from atu.models import Discriminator, Generator
from atu.stages.memory import FLOAT_BYTES, FLOOR_BYTES, sizes, stage_peak_bytes
from atu.util.memory import run_measuring_peak

K = 2


def _models(res: int, multiplier: int) -> tuple[Generator, Discriminator]:
    """rosinality's train.py architecture at `res` (config-f at 1024 with multiplier 2)."""
    return Generator(res, style_dim=512, n_mlp=8, channel_multiplier=multiplier), Discriminator(res, multiplier)


def _peak_of(command: list[str], log: Path) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak resident bytes) of one process."""
    start = time.perf_counter()
    status, peak = run_measuring_peak(command, log)
    return status, time.perf_counter() - start, peak


def measure_one(res: int, multiplier: int, batch: int, work: Path) -> dict:
    torch.manual_seed(0)
    G, D = _models(res, multiplier)
    gen = work / "gen.pt"
    save_rosinality(gen, g=G, g_ema=G, d=D)
    (work / "marks.txt").write_text("0\n3\n")
    atu = [sys.executable, "-m", "atu.cli"]
    cpu = ["--device", "cpu"]
    fb = [*atu, "feedback", "--gen", str(gen), "--n", "8", "--marks", str(work / "marks.txt"), *cpu]
    subprocess.run([*fb, "--out", str(work / "fb.safetensors")], check=True, capture_output=True)
    common = ["--gen", str(gen), "--feedback", str(work / "fb.safetensors"), "--steps", "1", "--batch", str(batch)]
    commands = {
        "adapt": [*atu, "adapt", *common, "--k", str(K), "--fisher-samples", "2", *cpu, "--out", str(work / "adapt")],
        "unlearn": [*atu, "unlearn", *common, "--adapted", str(work / "adapt"), *cpu, "--out", str(work / "unlearn")],
    }
    record = {
        "resolution": res,
        "channel_multiplier": multiplier,
        "batch": batch,
        "g_parameters": sum(p.numel() for p in G.parameters()),
        "d_parameters": sum(p.numel() for p in D.parameters()),
    }
    for stage, command in commands.items():
        status, wall, peak = _peak_of(command, work / f"{stage}.log")
        if status != 0:
            raise SystemExit(f"{stage} at {res} px failed ({status}): {(work / f'{stage}.log').read_text()[-2000:]}")
        record[stage] = {"peak_gib": peak / 2**30, "wall_s": round(wall, 1)}
    return record


def measure(args) -> None:
    out = Path(args.out)
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["resolution"], r["channel_multiplier"], r["batch"]))
    for spec in args.configs:
        res, multiplier, batch = (int(v) for v in spec.split(":"))
        if (res, multiplier, batch) in done:
            continue
        work = Path(tempfile.mkdtemp(prefix="stage_memory_"))
        try:
            record = measure_one(res, multiplier, batch, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        record.update(machine=f"{platform.machine()} {os.cpu_count()} cores", torch=torch.__version__)
        with open(out, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def report(args) -> None:
    rows = [json.loads(line) for line in Path(args.out).read_text().splitlines()]
    print("| px | mult. | batch | G params | stage | peak GiB | predicted GiB | predicted / peak |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["resolution"], r["channel_multiplier"], r["batch"])):
        G, D = _models(r["resolution"], r["channel_multiplier"])
        for stage in ("adapt", "unlearn"):
            m = r[stage]
            predicted = stage_peak_bytes(G, D, r["batch"], stage, k=K) / 2**30
            print(
                f"| {r['resolution']} | {r['channel_multiplier']} | {r['batch']} | {r['g_parameters'] / 1e6:.1f}M |"
                f" {stage} | {m['peak_gib']:.2f} | {predicted:.2f} | {predicted / m['peak_gib']:.2f} |"
            )


def fit(args) -> None:
    """Each stage's coefficients: peak − the floor − what the k adapted generators add (stage 2)
    against [static, batch·activations] bytes, by least squares; and the worst relative error."""
    import numpy as np

    rows = [json.loads(line) for line in Path(args.out).read_text().splitlines()]
    for stage in ("adapt", "unlearn"):
        X, y, peaks = [], [], []
        for r in rows:
            s = sizes(*_models(r["resolution"], r["channel_multiplier"]))
            known = FLOOR_BYTES + (K * s.generator * FLOAT_BYTES if stage == "unlearn" else 0)
            X.append([FLOAT_BYTES * s.static, FLOAT_BYTES * r["batch"] * s.activations])
            peaks.append(r[stage]["peak_gib"] * 2**30)
            y.append(peaks[-1] - known)
        coef, *_ = np.linalg.lstsq(np.array(X), np.array(y), rcond=None)
        worst = max(abs((peak - target + float(np.dot(x, coef))) / peak - 1) for x, target, peak in zip(X, y, peaks))
        print(
            f'"{stage}": Coefficients(per_static={coef[0]:.4g}, per_activation={coef[1]:.4g}),'
            f"  # worst {worst:.1%} over {len(rows)}"
        )


def _rss_gib() -> tuple[float, float]:
    """(resident now, peak so far) of this process, GiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[key].split()[0]) / 2**20 for key in ("VmRSS", "VmHWM"))


def phases(args) -> None:
    """Stage 1 of one adapted model over modules, the resident memory after each phase: what each
    part of the peak is (the checkpoint read, the Fisher, the trainer's copies and Adam's moments, a
    step with R1 and the path length, the checkpoint's tensors)."""
    from atu.gan.trainer import TrainConfig
    from atu.stages.adapt import AdaptConfig, adaptation_trainer, fisher_of
    from atu.stages.inputs import load_pretrained

    res, multiplier, batch = (int(v) for v in args.config.split(":"))
    with tempfile.TemporaryDirectory() as work:
        G, D = _models(res, multiplier)
        save_rosinality(Path(work) / "gen.pt", g=G, g_ema=G, d=D)
        del G, D
        rows = [("start (torch, atu imported)", *_rss_gib())]
        theta_g, d = load_pretrained(Path(work) / "gen.pt", "cpu")
        rows.append(("θ_G and D loaded", *_rss_gib()))
        cfg = AdaptConfig(k=1, steps=1, fisher_samples=2, train=TrainConfig(batch_size=batch))
        fisher = fisher_of(theta_g, d, cfg, 0)
        rows.append(("Fisher (2 samples)", *_rss_gib()))
        trainer = adaptation_trainer(theta_g, d, fisher, cfg, 0)
        rows.append(("trainer: G, D, g_ema copies, EWC buffers", *_rss_gib()))
        trainer.train_step(torch.randn(batch, 3, res, res))
        rows.append(("step 0 (with R1 and path length)", *_rss_gib()))
        trainer.state()
        rows.append(("checkpoint tensors gathered", *_rss_gib()))
    print(f"| {res} px, multiplier {multiplier}, batch {batch} | resident GiB | peak GiB |\n|---|---:|---:|")
    for name, now, peak in rows:
        print(f"| {name} | {now:.2f} | {peak:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("out")
    m.add_argument("--configs", nargs="+", required=True, help="RES:CHANNEL_MULTIPLIER:BATCH")
    for name in ("fit", "report"):
        sub.add_parser(name).add_argument("out")
    sub.add_parser("phases").add_argument("config", help="RES:CHANNEL_MULTIPLIER:BATCH")
    args = parser.parse_args()
    {"measure": measure, "fit": fit, "report": report, "phases": phases}[args.command](args)


if __name__ == "__main__":
    main()
