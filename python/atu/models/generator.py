"""StyleGAN2 generator with rosinality/stylegan2-pytorch's state-dict layout and call signature."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from ..util.errors import NonFiniteOutputError
from .channels import check_size, resolve_channels
from .layers import ConstantInput, EqualLinear, PixelNorm, StyledConv, ToRGB
from .precision import MixedPrecisionModel

# Samples per block of Generator.sample_inputs: small enough that a block's 256-px noise maps are a
# few tens of MB, large enough that seeding a generator per block costs nothing next to rendering.
SAMPLE_BLOCK = 64
PASS_PIXELS = 2**21  # pixels one sampling forward pass draws by default (Generator.images_per_pass)


def _block_seed(seed: int, block: int) -> int:
    """A 63-bit seed for block `block` of sampling seed `seed`: a hash, so that blocks of
    neighbouring seeds, (seed, b + 1) and (seed + 1, b), draw unrelated inputs."""
    digest = hashlib.blake2b(f"atu.sample:{seed}:{block}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class Generator(MixedPrecisionModel, nn.Module):
    def __init__(
        self,
        size: int,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        lr_mlp: float = 0.01,
        channels: Mapping[int, int] | None = None,
    ):
        super().__init__()
        self.size = check_size(size)
        if style_dim < 1 or n_mlp < 1:
            raise ValueError(f"style_dim and n_mlp must be >= 1, got {style_dim} and {n_mlp}")
        self.style_dim, self.n_mlp, self.lr_mlp = style_dim, n_mlp, lr_mlp
        self.channel_multiplier, self.blur_kernel = channel_multiplier, tuple(blur_kernel)
        self.channels = resolve_channels(size, channel_multiplier, channels)
        self._explicit_channels = channels is not None
        ch = self.channels

        self.style = nn.Sequential(
            PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="lrelu") for _ in range(n_mlp)]
        )
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)

        self.log_size = size.bit_length() - 1
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer, res in enumerate(self.noise_resolutions()):
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2**i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel))
            in_ch = out_ch

    # ---- configuration ------------------------------------------------------------------------
    def config(self) -> dict:
        """Constructor kwargs, JSON-able: what a checkpoint stores to rebuild this generator."""
        cfg = {
            "size": self.size,
            "style_dim": self.style_dim,
            "n_mlp": self.n_mlp,
            "channel_multiplier": self.channel_multiplier,
            "blur_kernel": list(self.blur_kernel),
            "lr_mlp": self.lr_mlp,
        }
        if self._explicit_channels:
            cfg["channels"] = {str(r): c for r, c in self.channels.items()}
        return cfg

    @classmethod
    def from_config(cls, cfg: Mapping) -> Generator:
        return cls(**dict(cfg))

    # ---- rosinality's helpers -----------------------------------------------------------------
    def noise_resolutions(self) -> list[int]:
        """The side of each layer's noise map: 4 for the first conv, then two convs per resolution."""
        return [2 ** ((layer + 5) // 2) for layer in range(self.num_layers)]

    def make_noise(self, generator: torch.Generator | None = None, batch: int = 1) -> list[torch.Tensor]:
        like = self.input.input
        return [torch.randn(batch, 1, res, res, generator=generator).to(like) for res in self.noise_resolutions()]

    @torch.no_grad()
    def mean_latent(self, n_latent: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n_latent, self.style_dim, generator=generator).to(self.input.input)
        return self.style(z).mean(0, keepdim=True)

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    # ---- forward --------------------------------------------------------------------------------
    def forward(
        self,
        styles: Sequence[torch.Tensor],
        return_latents: bool = False,
        inject_index: int | None = None,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        input_is_latent: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = True,
    ):
        """G([z]) or G([z1, z2]) (style mixing at inject_index). Returns (image, latent or None)."""
        if isinstance(styles, torch.Tensor):
            raise TypeError("styles must be a list of tensors, e.g. G([z]), as in rosinality's Generator")
        if not 1 <= len(styles) <= 2:
            raise ValueError(f"styles must hold one or two latent tensors, got {len(styles)}")
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = (
                [None] * self.num_layers
                if randomize_noise
                else [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
            )
        elif len(noise) != self.num_layers:
            raise ValueError(f"noise must hold {self.num_layers} tensors (one per layer), got {len(noise)}")
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. G.mean_latent(4096))")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]

        latent = self._broadcast_latent(styles, inject_index)
        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for log_res, up_conv, conv, noise_up, noise_same, to_rgb in zip(
            range(3, self.log_size + 1), self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            out = out.to(self.precision.reduced_at(2**log_res, self.size) or skip.dtype)
            out = up_conv(out, latent[:, i], noise=noise_up)
            out = conv(out, latent[:, i + 1], noise=noise_same)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, (latent if return_latents else None)

    def _broadcast_latent(self, styles: Sequence[torch.Tensor], inject_index: int | None) -> torch.Tensor:
        """[N, n_latent, style_dim]: one w for every layer, or two mixed at inject_index."""
        if len(styles) == 1:
            w = styles[0]
            return w if w.ndim == 3 else w.unsqueeze(1).expand(-1, self.n_latent, -1)
        if inject_index is None:
            inject_index = random.randint(1, self.n_latent - 1)
        first = styles[0].unsqueeze(1).expand(-1, inject_index, -1)
        second = styles[1].unsqueeze(1).expand(-1, self.n_latent - inject_index, -1)
        return torch.cat([first, second], dim=1)

    # ---- plain sampling ---------------------------------------------------------------------------
    def bytes_per_image(self, training: bool = False) -> int:
        """A lower estimate of the memory one image takes in a forward pass: the largest layer's
        activations (channels × side² floats) times the copies a modulated, upsampling layer keeps
        alive (8, from peak measurements at 1024 px); training (G's backward, D's forward and backward,
        R1 and path-length terms) about 4 times that. Used to refuse a batch that cannot fit before
        any work, never to size one."""
        largest = max(channels * resolution * resolution for resolution, channels in self.channels.items())
        return largest * 4 * 8 * (4 if training else 1)

    def images_per_pass(self, at_most: int = 64) -> int:
        """How many samples one forward pass draws when the caller does not say: `at_most` up to the
        resolution where that many make PASS_PIXELS (64 up to 181 px), fewer above, so that drawing
        never needs more than a few GiB at any resolution (one 1024-px image's forward pass takes
        about half a GiB)."""
        return max(1, min(at_most, PASS_PIXELS // (self.size * self.size)))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int = 0,
        *,
        truncation: float = 1.0,
        batch_size: int | None = None,
        return_latents: bool = False,
    ):
        """n images in [-1, 1] (roughly), fully determined by seed (z and noise maps from
        `sample_inputs`): the same seed gives the same images on the same machine, and sample i is
        the same for every n > i. The batch size (default: images_per_pass) changes only the
        rounding of the convolutions, a few 1e-6."""
        batches = list(
            self.iter_samples(n, seed, truncation=truncation, batch_size=batch_size, return_latents=return_latents)
        )
        images = torch.cat([img for _, img, _ in batches])
        return (images, torch.cat([w for _, _, w in batches])) if return_latents else images

    def sample_inputs(self, seed: int, start: int, stop: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The random inputs of samples start..stop−1 of `sample(n, seed)` (any n >= stop): z
        [stop − start, style_dim] on the CPU and the noise maps, one tensor per layer on G's device.

        Each run of SAMPLE_BLOCK consecutive samples draws its inputs from its own generator, seeded
        from (seed, block number), at the full block size (z first, then the maps): sample i
        depends on (seed, i) only, so a batch holds just its own noise (a 15,000-sample bank at
        256 px would otherwise hold about 10 GB of it) and neither n nor the batch size changes a
        sample."""
        if not 0 <= start < stop:
            raise ValueError(f"sample_inputs: need 0 <= start < stop, got {start}, {stop}")
        blocks = range(start // SAMPLE_BLOCK, (stop - 1) // SAMPLE_BLOCK + 1)
        zs, maps = [], []
        for block in blocks:
            gen = torch.Generator().manual_seed(_block_seed(seed, block))
            zs.append(torch.randn(SAMPLE_BLOCK, self.style_dim, generator=gen))
            maps.append(self.make_noise(gen, batch=SAMPLE_BLOCK))
        lo, hi = start - blocks[0] * SAMPLE_BLOCK, stop - blocks[0] * SAMPLE_BLOCK
        noise = [torch.cat([m[layer] for m in maps])[lo:hi] for layer in range(self.num_layers)]
        return torch.cat(zs)[lo:hi], noise

    @torch.no_grad()
    def iter_samples(
        self,
        n: int,
        seed: int = 0,
        *,
        truncation: float = 1.0,
        batch_size: int | None = None,
        return_latents: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """`sample` one batch at a time, for callers that show progress or keep the inputs: yields
        (z, images, w or None) for consecutive slices of the same n samples, z on the CPU.

        Each sample's z and noise maps come from `sample_inputs`, drawn batch by batch; with
        truncation < 1 the mean w is that of 4096 latents drawn from a generator seeded with
        `seed`. Batching changes no sample's inputs, only the rounding of its convolutions.

        shard = (i, m): only the batches b with b % m == i (one process's share of the n samples);
        each is computed exactly as without sharding."""
        index, count = shard
        batch_size = self.images_per_pass() if batch_size is None else batch_size
        if not 0 <= index < count:
            raise ValueError(f"shard must be (i, m) with 0 <= i < m, got {shard}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        like = self.input.input
        trunc_latent = self.mean_latent(4096, torch.Generator().manual_seed(seed)) if truncation < 1 else None
        for b, start in enumerate(range(0, n, batch_size)):
            if b % count != index:
                continue
            z, noise = self.sample_inputs(seed, start, min(start + batch_size, n))
            img, w = self(
                [z.to(like)],
                noise=noise,
                truncation=truncation,
                truncation_latent=trunc_latent,
                return_latents=return_latents,
            )
            self.require_finite(img, f"samples {start}..{start + img.shape[0] - 1} of seed {seed}")
            yield z, img, w

    def require_finite(self, images: torch.Tensor, which: str) -> torch.Tensor:
        """`images` (drawn by this generator), after checking every pixel is finite: a NaN image would
        be judged as holding no feature at all. NonFiniteOutputError naming the model otherwise."""
        if not bool(torch.isfinite(images).all()):
            raise NonFiniteOutputError(
                f"{getattr(self, 'origin', None) or 'the generator'}: draws NaN or infinite pixels ({which}) although "
                "its weights are finite; the model is broken, and no metric is computed from it"
            )
        return images
