"""Checkpoints: atu's own format (safetensors + JSON metadata) and rosinality/stylegan2-pytorch's
.pt layout used by the Adapt-then-Unlearn authors, read safely and converted both ways.

    ck = atu.checkpoint.load("550000.pt")          # or "model.safetensors": the content decides
    G = ck.generator()                               # "g_ema", architecture read from the weights
    D = ck.discriminator()
    atu.checkpoint.save("model.safetensors", kind="stylegan2", config=..., state_dicts=..., metadata=...)
    atu.checkpoint.save_rosinality("model.pt", g_ema=G, d=D)   # back to the authors' code

Modules: core (the Checkpoint object), file_format (sniffing), torch_file + pickle_scan (safe
torch.load), architecture (inference from tensor shapes), atu_format, rosinality, nvlabs, loader;
feedback_bundle (the marked samples the stages read).
"""

from .architecture import check_layout, infer_discriminator_config, infer_generator_config
from .atu_format import FORMAT_VERSION, load_atu, save
from .core import Checkpoint
from .errors import CheckpointError, CheckpointWarning
from .file_format import sniff_format
from .loader import load
from .rosinality import save_rosinality

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointWarning",
    "FORMAT_VERSION",
    "check_layout",
    "infer_discriminator_config",
    "infer_generator_config",
    "load",
    "load_atu",
    "save",
    "save_rosinality",
    "sniff_format",
]
