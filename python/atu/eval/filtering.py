"""The output filter: rejection sampling from the pre-trained generator with the feature's
classifier. Not a model edit but the reference every edit is up against: draw, drop what the
labeller marks, keep the rest. Its PUL under the labeller that filters is 100% by construction
(up to the labeller's own rule), so only a second judge says how much of the feature gets through;
its FID says what dropping the marked samples costs; its rejected share what it costs to sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..classifiers.inference import marked
from ..classifiers.judges import Judge

RAW_DRAWS_PER_SAMPLE = 1000  # a labeller that rejects more than 99.9% of the draws is refused, not waited on


class FilteredSampler:
    """Samples of `G` that `classifier` does not mark (its predicted class is not `undesired_class`,
    or with `threshold` P its probability of the class is below P), in the order G draws them.

    Deterministic: the accepted samples are G's samples of `seed` (G.iter_samples) with the marked
    ones left out, so the same (n, seed) gives the same images at any batch size or sharding
    (every process labels the whole stream and keeps its share of the output batches).
    `last_draw` holds {"drawn", "kept"} of the last completed iter_samples."""

    def __init__(self, G: nn.Module, classifier: nn.Module, undesired_class: int, *, threshold: float | None = None):
        classifier = classifier.eval()
        self._start(G, lambda images: marked(classifier, images, undesired_class, threshold))

    @classmethod
    def judged_by(cls, G: nn.Module, judge: Judge) -> FilteredSampler:
        """The samples of G in which `judge` (classifiers/judges.py: a class or a measurement) does not
        find the feature."""
        sampler = cls.__new__(cls)
        sampler._start(G, judge.holds)
        return sampler

    def _start(self, G: nn.Module, marks) -> None:
        self.G, self.size, self.style_dim, self._marks = G, G.size, G.style_dim, marks
        self.last_draw: dict[str, int] | None = None

    def marked(self, images: torch.Tensor) -> torch.Tensor:
        """bool [N] on the images' device: the samples the filter drops."""
        return self._marks(images).to(images.device)

    def images_per_pass(self, at_most: int = 64) -> int:
        return self.G.images_per_pass(at_most)

    def eval(self) -> FilteredSampler:
        self.G.eval()
        return self

    @torch.no_grad()
    def iter_samples(
        self,
        n: int,
        seed: int = 0,
        *,
        batch_size: int = 64,
        shard: tuple[int, int] = (0, 1),
        truncation: float = 1.0,
        return_latents: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, None]]:
        """(z, images, None) for consecutive batches of the n accepted samples (this process's share)."""
        index, count = shard
        if not 0 <= index < count:
            raise ValueError(f"shard must be (i, m) with 0 <= i < m, got {shard}")
        if n < 1 or batch_size < 1:
            raise ValueError(f"n and batch_size must be >= 1, got {n}, {batch_size}")
        kept_z, kept_images, n_kept, drawn, out_batch = [], [], 0, 0, 0
        limit = n * RAW_DRAWS_PER_SAMPLE
        raw = self.G.iter_samples(
            limit, seed, batch_size=self.G.images_per_pass(at_most=batch_size), truncation=truncation
        )
        while True:
            while n_kept < min(n, (out_batch + 1) * batch_size):
                try:
                    z, images, _ = next(raw)
                except StopIteration:
                    raise RuntimeError(
                        f"the filter kept {n_kept} of {drawn} draws, fewer than the {n} asked for: "
                        f"the labeller marks nearly every sample"
                    ) from None
                drawn += images.shape[0]
                keep = ~self.marked(images)
                kept_z.append(z[keep.cpu()])
                kept_images.append(images[keep])
                n_kept += int(keep.sum())
            z_all, img_all = torch.cat(kept_z), torch.cat(kept_images)
            take = min(batch_size, n - out_batch * batch_size)
            if out_batch % count == index:
                yield z_all[:take], img_all[:take], None
            kept_z, kept_images = [z_all[take:]], [img_all[take:]]
            out_batch += 1
            if out_batch * batch_size >= n:
                self.last_draw = {"drawn": drawn, "kept": n_kept}
                return
