"""User feedback on generated samples: the bundle format (and, with `atu feedback`, how it is made)."""
from .bundle import FeedbackBundle, images_to_uint8, load_bundle, save_bundle, uint8_to_images

__all__ = ["FeedbackBundle", "load_bundle", "save_bundle", "images_to_uint8", "uint8_to_images"]
