"""StyleGAN2 training as its authors define it: losses, lazy regularisation, EMA; used by pretraining
and by both stages of Adapt-then-Unlearn."""
