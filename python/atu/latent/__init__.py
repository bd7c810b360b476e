"""Latent feature unlearning (Moon, Cho, Kim, AAAI 2024): the competing family of methods, run as a
baseline next to Adapt-then-Unlearn (`atu latent-unlearn`, the `latent` column of studies)."""

from .direction import FeatureDirection
from .losses import latent_unlearning_losses, synthesise
from .msssim import ms_ssim
from .training import LatentBatches, LatentUnlearnTrainer, synthesis_parameters

__all__ = [
    "FeatureDirection",
    "latent_unlearning_losses",
    "synthesise",
    "ms_ssim",
    "LatentBatches",
    "LatentUnlearnTrainer",
    "synthesis_parameters",
]
