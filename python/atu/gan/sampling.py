"""Which training images each step sees: seeded index samplers whose whole state is two ints, so a
resumed run draws exactly the batches an uninterrupted one would have drawn."""

from __future__ import annotations

from collections.abc import Callable

import torch


def _permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    # One independent, reproducible permutation per epoch (a fresh generator: no shared RNG state).
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


class EpochSampler:
    """Batches of indices, a fresh seeded permutation every epoch; the remainder of an epoch that
    does not fill a batch is skipped (as a DataLoader with drop_last). Needs n >= batch_size."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int = 0, position: int = 0):
        if n < batch_size:
            raise ValueError(f"the dataset has {n} images, fewer than one batch of {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.position = epoch, position

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:
            self.epoch, self.position = self.epoch + 1, 0
        batch = _permutation(self.n, self.seed, self.epoch)[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state(self) -> list[int]:
        return [self.epoch, self.position]

    def load_state(self, state) -> None:
        self.epoch, self.position = (int(v) for v in state)


class StreamSampler(EpochSampler):
    """Like EpochSampler, but a batch that runs past the end of an epoch continues into the next
    epoch's permutation. Every image is seen equally often and a data set smaller than one batch
    still works: few-shot feedback (a user may mark only a handful of undesired samples)."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int = 0, position: int = 0):
        if n < 1:
            raise ValueError("cannot draw batches from an empty set of images")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.position = epoch, position

    def next(self) -> torch.Tensor:
        parts, wanted = [], self.batch_size
        while wanted > 0:
            if self.position == self.n:
                self.epoch, self.position = self.epoch + 1, 0
            take = min(wanted, self.n - self.position)
            parts.append(_permutation(self.n, self.seed, self.epoch)[self.position : self.position + take])
            self.position += take
            wanted -= take
        return torch.cat(parts)


class Batches:
    """A sampler's indices turned into a batch of images; its state is the sampler's."""

    def __init__(self, sampler: EpochSampler, fetch: Callable[[torch.Tensor], torch.Tensor]):
        self.sampler, self.fetch = sampler, fetch

    @classmethod
    def of_tensor(cls, images: torch.Tensor, batch_size: int, seed: int) -> Batches:
        """Batches drawn from an in-memory [N, C, H, W] tensor (feedback images)."""
        return cls(StreamSampler(images.shape[0], batch_size, seed), lambda idx: images[idx])

    def next(self) -> torch.Tensor:
        return self.fetch(self.sampler.next())

    def state(self) -> list[int]:
        return self.sampler.state()

    def load_state(self, state) -> None:
        self.sampler.load_state(state)
