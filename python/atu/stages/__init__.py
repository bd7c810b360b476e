"""Adapt-then-Unlearn's stages and their run folders: the inputs both stages read (inputs), the
diagonal Fisher (fisher), stage 1 (adapt), stage 2 (unlearn, with the redaction family's D-loss
terms in redaction) and the training-free extrapolation baseline (extrapolate)."""
