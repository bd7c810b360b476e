"""A tiny classifier whose answer on a given bank is known by construction, for the tests of the
commands that label samples (atu feedback, atu label), and randomly initialised judges."""

import torch

from atu.classifiers import LeNet, save_classifier
from atu.feedback import uint8_to_images


def half_in_class_1(images_uint8: torch.Tensor, resolution: int) -> LeNet:
    """A 3-class LeNet that puts exactly half of these images (the upper half of its class-1 scores)
    in class 1, the rest in class 0, and never predicts class 2 (its bias is −1e4)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        model = LeNet(num_classes=3, channels=(4, 4), hidden=8, resolution=resolution).eval()
    n = images_uint8.shape[0]
    with torch.no_grad():
        model.head.weight[0].zero_()
        model.head.weight[2].zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, -1e4]))
        score = model(uint8_to_images(images_uint8))[:, 1].sort().values
        model.head.bias[1] = -(score[n // 2 - 1] + score[n // 2]) / 2  # between the two middle scores
    return model


def saved_random_lenet(path, seed, num_classes, metadata=None):
    """A 16-px LeNet initialised from `seed` (a judge with no training), saved at `path`."""
    torch.manual_seed(seed)
    model = LeNet(num_classes=num_classes, resolution=16).eval()
    save_classifier(path, model, metadata or {})
    return model
