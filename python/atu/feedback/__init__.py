"""User feedback on generated samples: which ones are undesired.

(the bundle format itself, which the stages read, is atu.checkpoint.feedback_bundle)
bank       draw_bank: n seeded samples of a generator with their z, not yet judged
marks      a person's marks: read_marks (JSON or text), check_marks
labelling  label_with_classifier (a classifier stands in for the user), label_with_judge (any judge:
           a measured feature), label_with_marks
"""

from ..checkpoint.feedback_bundle import FeedbackBundle, images_to_uint8, load_bundle, save_bundle, uint8_to_images
from .bank import DEFAULT_N, draw_bank
from .labelling import label_names, label_with_classifier, label_with_judge, label_with_marks, relabelled, resolve_class
from .marks import MarksError, check_marks, read_marks

__all__ = [
    "FeedbackBundle",
    "load_bundle",
    "save_bundle",
    "images_to_uint8",
    "uint8_to_images",
    "DEFAULT_N",
    "draw_bank",
    "label_with_classifier",
    "label_with_marks",
    "label_with_judge",
    "label_names",
    "resolve_class",
    "relabelled",
    "read_marks",
    "check_marks",
    "MarksError",
]
