"""Several processes with torch.distributed, as `torchrun` starts them.

Outside torchrun (no WORLD_SIZE/RANK in the environment) nothing here starts a process group and
every helper is the single-process no-op: rank 0 of 1, barrier does nothing, sums are the values.

Under torchrun, `session(device)` joins the group (gloo on CPU, nccl on CUDA, where each process
takes the GPU cuda:LOCAL_RANK) and leaves it at the end. How the commands use it:
- `atu adapt`: the k adapted models are independent runs, model j on rank j % world;
- `atu unlearn`: data parallel (DataParallel below): every rank draws the same global batch and
  latents from identically seeded streams and computes its share, gradients are averaged;
- `atu evaluate`: the latent bank's batches are shared out, counts and feature sums added up.
Only rank 0 writes the files of a shared run (stage 2, metrics.json).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn

ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def launched() -> bool:
    """Started by torchrun (or anything that sets its environment variables)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def device_for_rank(device: str) -> str:
    """A bare "cuda" means this process's own GPU under torchrun; anything else is kept."""
    if launched() and device == "cuda":
        return f"cuda:{local_rank()}"
    return device


@contextlib.contextmanager
def session(device: str, timeout_s: float | None = None) -> Iterator[str]:
    """Joins torchrun's process group for the duration (if launched by torchrun and not joined yet)
    and yields the device this process should use.

    The collectives' timeout (default 24 h, or ATU_DIST_TIMEOUT_S seconds) must outlast the
    longest wait: in stage 1 a rank with fewer models waits at the final barrier while the others
    still train."""
    timeout_s = timeout_s or float(os.environ.get("ATU_DIST_TIMEOUT_S", 24 * 3600))
    if not launched() or active():
        yield device_for_rank(device)
        return
    device = device_for_rank(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield device
        # Nobody tears down its connections while another rank still talks on them: a gloo rank
        # that exits first can abort its peer's teardown ("terminate called without an active
        # exception", seen under load).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def _collective_device() -> torch.device:
    # nccl reduces only CUDA tensors; gloo only CPU ones.
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over the ranks (a new tensor, on tensor's device); itself in one process."""
    if not active():
        return tensor.clone()
    buffer = tensor.detach().to(_collective_device()).clone()
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.to(tensor.device)


def sum_counts(count: int) -> int:
    return int(all_reduce_sum(torch.tensor(count, dtype=torch.int64)))


def any_rank(flag: bool) -> bool:
    return bool(all_reduce_sum(torch.tensor(int(flag), dtype=torch.int64)) > 0)


def assemble_rows(parts: list[tuple[int, torch.Tensor]], n: int) -> torch.Tensor:
    """The [n, D] float64 matrix whose row slices (start, rows) the ranks computed between them, on
    every rank: each rank writes its slices into zeros and one all-reduce sums them. Row order is the
    samples', not the ranks', so the result does not depend on the number of processes."""
    own = int(parts[0][1].shape[1]) if parts else 0
    d_sum, k = (int(v) for v in all_reduce_sum(torch.tensor([own, int(own > 0)])))
    if k == 0 or d_sum % k:
        raise ValueError(f"the ranks' feature rows disagree in width or are missing (this rank: {own})")
    rows = torch.zeros(n, d_sum // k, dtype=torch.float64)
    for start, block in parts:
        rows[start : start + block.shape[0]] = block.detach().to(device="cpu", dtype=torch.float64)
    return all_reduce_sum(rows)


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Every rank gets rank `src`'s parameters and buffers, bit for bit."""
    if not active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            buffer = t.detach().to(_collective_device()).clone()
            dist.broadcast(buffer, src=src)
            t.copy_(buffer.to(t.device))


def average_gradients(params) -> None:
    """p.grad ← mean over the ranks of p.grad, in one flat all-reduce. A parameter without a
    gradient on this rank counts as zero (and gets one), so every rank steps the same tensors.
    The sum is formed the same way for every rank (ring all-reduce), so the averaged gradients,
    and hence the parameters after the step, stay bit-identical across ranks."""
    if not active():
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    total = all_reduce_sum(flat) / world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(total[offset : offset + n].view_as(p.grad))
        offset += n


class DataParallel:
    """What the StyleGAN2 trainer asks of a process group when it trains one model on several ranks.

    Every rank draws the same global batch (same sampler seed) and the same latents and noise
    (same trainer RNG), and keeps its share: the samples i with i % world == rank. The losses are
    per-sample means and every share has the same size, so the mean over the ranks of the share's
    gradients is the global batch's gradient. The strided share also keeps the discriminator's
    minibatch-stddev groups (samples i, i + B/g, i + 2B/g, ...) whenever B is a multiple of
    4·world: the run then equals a one-process run with batch B up to rounding."""

    def __init__(self, rank: int, world: int):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.rank, self.world = rank, world

    @classmethod
    def from_process_group(cls) -> DataParallel | None:
        return cls(rank(), world_size()) if world_size() > 1 else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch(self, n: int, what: str = "batch_size") -> None:
        if n % self.world:
            raise ValueError(
                f"{what} {n} must be a multiple of the number of processes ({self.world}) so that "
                f"every process gets an equal share"
            )

    def share(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.rank :: self.world]

    def average_gradients(self, module: nn.Module) -> None:
        average_gradients(module.parameters())

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(value.detach()) / self.world

    def mean_logs(self, logs: dict[str, float]) -> dict[str, float]:
        """The step's logged values averaged over the ranks: every rank sees the same numbers,
        so they agree on logging and on stopping at a non-finite loss."""
        if not logs:
            return logs
        values = all_reduce_sum(torch.tensor(list(logs.values()), dtype=torch.float64)) / self.world
        return dict(zip(logs, values.tolist()))

    def any(self, flag: bool) -> bool:
        return any_rank(flag)

    def broadcast(self, *modules: nn.Module) -> None:
        for m in modules:
            broadcast_module(m)
