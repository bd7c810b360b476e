"""StyleGAN2 generator and discriminator on atu_ext's ops, in rosinality/stylegan2-pytorch's layout."""

from .channels import default_channels, narrow_channels
from .discriminator import Discriminator
from .generator import Generator
from .ops import use_ops

__all__ = ["Generator", "Discriminator", "default_channels", "narrow_channels", "use_ops"]
