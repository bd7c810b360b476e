"""atu: Adapt-then-Unlearn for StyleGAN2."""
