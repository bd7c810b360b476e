"""`atu demo --toy mog`: Adapt-then-Unlearn in miniature on a 2-D mixture of 8 Gaussians.

data (the mixture, the labeller) · models (MLP G and D) · training (the GAN loop) · fisher (EWC's
weights) · stages (pre-training, feedback, stage 1, stage 2, extrapolation) · metrics · plot ·
report · config · demo (the run, its folder and files)
"""

from .demo import run_mog_demo

__all__ = ["run_mog_demo"]
