"""Classifiers that stand in for the user: they label samples (feedback), judge PUL and provide the
features FID is computed in.

- `LeNet`: digits (bundled digits, MNIST), 10 classes, any R >= 16.
- `ResNet`: a small residual CNN for one binary attribute of face images, any R >= 32.
Both have `forward(x)` -> logits and `features(x)` -> penultimate activations [N, F].
"""

from .augment import Augmentation
from .classes import label_names, resolve_class
from .inference import feature_fn, predict, predict_proba
from .io import ARCHITECTURES, build_classifier, load_classifier, save_classifier
from .lenet import LeNet
from .resnet import ResNet
from .train import evaluate, train_classifier

__all__ = [
    "LeNet",
    "ResNet",
    "ARCHITECTURES",
    "Augmentation",
    "build_classifier",
    "save_classifier",
    "load_classifier",
    "predict",
    "predict_proba",
    "feature_fn",
    "train_classifier",
    "evaluate",
    "label_names",
    "resolve_class",
]
