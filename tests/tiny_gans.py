"""Tiny StyleGAN2 pairs, their checkpoints and synthetic feedback, shared by the tests of the stages
(`atu adapt`, `atu unlearn`, `atu latent-unlearn`) and of their torchrun runs."""

import copy

import torch

from atu import checkpoint as ckpt
from atu.checkpoint.feedback_bundle import FeedbackBundle, images_to_uint8
from atu.gan.trainer import TrainConfig
from atu.models import Discriminator, Generator, narrow_channels

# What the stage tests train with: batch 4 (the minibatch-stddev group) and every regulariser every
# other step, so that two steps exercise R1 and path length.
TRAIN = TrainConfig(batch_size=4, d_reg_every=2, g_reg_every=2)


def tiny_models(seed=0, width=8, n_mlp=2):
    """A 16 px generator and discriminator, `width` channels at every resolution, seeded."""
    torch.manual_seed(seed)
    ch = narrow_channels(16, width)
    return Generator(16, style_dim=16, n_mlp=n_mlp, channels=ch), Discriminator(16, channels=ch)


def saved_study_models(root):
    """The studies' tiny pair (4 channels, one mapping layer, seed 0) saved as root/g.safetensors:
    (G, D, path)."""
    G, D = tiny_models(0, width=4, n_mlp=1)
    return G, D, save_pretrained(root / "g.safetensors", G, D)


def save_pretrained(path, G, D):
    """An atu checkpoint with G as g_ema and D: what the stages take as the pre-trained model."""
    return ckpt.save(
        path,
        kind="stylegan2",
        config={"generator": G.config(), "discriminator": D.config()},
        state_dicts={"g_ema": G.state_dict(), "d": D.state_dict()},
    )


def disc_bundle(n=12, n_undesired=5, size=16, seed=0):
    """A feedback bundle of n bright discs of random radius (something for D to learn), the first
    n_undesired marked undesired."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    radius = 0.3 + 0.5 * torch.rand(n, 1, 1, generator=g)
    discs = ((xx**2 + yy**2).sqrt()[None] < radius).float() * 2 - 1
    undesired = torch.zeros(n, dtype=torch.bool)
    undesired[:n_undesired] = True
    return FeedbackBundle(
        torch.randn(n, 16, generator=g), images_to_uint8(discs[:, None].repeat(1, 3, 1, 1)), undesired
    )


def perturbed(G, scale, seed):
    """A copy of G with seeded Gaussian noise of std `scale` added to every parameter (a stand-in
    for an adapted or fine-tuned model)."""
    g = torch.Generator().manual_seed(seed)
    out = copy.deepcopy(G)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return out


def stage_inputs(root):
    """θ_G's checkpoint (tiny_models), a disc feedback bundle and two synthetic "adapted" models (θ_G
    perturbed) in `root`: the inputs of stage 2 and its variants."""
    from types import SimpleNamespace

    from atu.checkpoint.feedback_bundle import save_bundle

    G, D = tiny_models()
    adapted = [save_pretrained(root / f"adapted_{j}.safetensors", perturbed(G, 0.05, seed=10 + j), D) for j in range(2)]
    return SimpleNamespace(
        gen=save_pretrained(root / "gen.safetensors", G, D),
        G=G,
        D=D,
        adapted=adapted,
        feedback=save_bundle(root / "feedback.safetensors", disc_bundle()),
        root=root,
    )


def killed_after_step(monkeypatch, trainer_class, step, run):
    """Calls run() with trainer_class.train_step raising SystemExit right after step `step` (a kill
    between two steps), expects the SystemExit, and puts the real train_step back."""
    import pytest

    real_step = trainer_class.train_step

    def killed(self, *args):
        logs = real_step(self, *args)
        if self.step == step:
            raise SystemExit("killed")
        return logs

    monkeypatch.setattr(trainer_class, "train_step", killed)
    with pytest.raises(SystemExit):
        run()
    monkeypatch.setattr(trainer_class, "train_step", real_step)


TINY_TRAIN = {"batch_size": 4, "d_reg_every": 2, "g_reg_every": 2}


def tiny_study(generator, classifier, features, *, k=1, steps=2, n_bank=40, n_fid=20, **changes):
    """A study configuration (plain data) that runs in seconds on a tiny generator: a 40-sample bank,
    `k` adapted models and `steps` steps per stage, the digits as FID's real data; `changes` replace
    whole sections."""
    return {
        "generator": str(generator),
        "classifier": str(classifier),
        "data": "digits",
        "features": features,
        "methods": ["el2"],
        "seeds": [0],
        "feedback": {"n": 40, "seed": 0, "batch_size": 20},
        "adapt": {"k": k, "steps": steps, "fisher_samples": 4, "train": dict(TINY_TRAIN)},
        "unlearn": {"steps": steps, "train": dict(TINY_TRAIN)},
        "extrapolation": {"scales": [1.0]},
        "evaluate": {"n_bank": n_bank, "n_fid": n_fid, "seed": 3},
        "schedule": {"log_every": 1, "sample_every": 100, "checkpoint_every": 2},
        "device": "cpu",
        **changes,
    }
