"""The marks a person is making on a bank, shared by the server's request threads.

Every change goes through `set_marks`, which checks the whole list first (`check_marks`: ints in
range, no repeats) and only then replaces the marks, so a bad request leaves them as they were.
`save` writes the feedback bundle atomically (a temporary file renamed over the old one) while
holding the lock: saves never interleave, and a reader of the file sees the old bundle or the new
one, never a mixture.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..feedback import FeedbackBundle, MarksError, check_marks, relabelled, save_bundle

DEFAULT_PAGE_SIZE = 48


class MarkingSession:
    def __init__(
        self,
        bank: FeedbackBundle,
        feedback_file: str | Path,
        *,
        initial: Iterable[int] = (),
        saved: Iterable[int] | None = None,
        bank_record: dict[str, Any] | None = None,
        pre_marked_by: dict[str, Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ):
        """`initial`: the marks the page opens with (restored from a saved bundle, or a classifier's
        for review). `saved`: the marks already on disk, if a bundle exists, so the page can say
        whether there is anything unsaved. `bank_record` (path, sha256) and `pre_marked_by` (the
        classifier's labeller record) go into every saved bundle's metadata."""
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.bank = bank
        self.feedback_file = Path(feedback_file)
        self.page_size = page_size
        self._bank_record = bank_record
        self._pre_marked_by = pre_marked_by
        self._undesired = frozenset(check_marks(list(initial), len(bank)))
        self._saved = frozenset(check_marks(list(saved), len(bank))) if saved is not None else None
        self._lock = threading.Lock()
        self._png_cache: dict[int, bytes] = {}

    @property
    def n(self) -> int:
        return len(self.bank)

    def marks(self) -> list[int]:
        return sorted(self._undesired)

    @property
    def unsaved(self) -> bool:
        # Before the first save, only marks are worth saving: an empty selection loses nothing.
        return self._undesired != (self._saved if self._saved is not None else frozenset())

    def state(self) -> dict[str, Any]:
        """What the page needs to draw itself."""
        with self._lock:
            return {
                "n": self.n,
                "undesired": self.marks(),
                "page_size": self.page_size,
                "resolution": int(self.bank.images.shape[-1]),
                "unsaved": self.unsaved,
                "saved_before": self._saved is not None,
                "feedback_file": self.feedback_file.name,
                "pre_marked_by": _describe_labeller(self._pre_marked_by),
            }

    def set_marks(self, entries: Any) -> list[int]:
        """Replaces the marks with `entries` (sample indices); MarksError, and no change, if any is bad."""
        marks = self._checked(entries)
        with self._lock:
            self._undesired = frozenset(marks)
        return marks

    def save(self, entries: Any = None) -> dict[str, Any]:
        """Writes the feedback bundle, after replacing the marks with `entries` if given (checked as
        in `set_marks`; both under one lock, so what is written is exactly what was sent). Returns
        what was saved and, when the marks cannot be trained on yet (no undesired or no desired
        sample), why; the bundle is written all the same: it is the person's progress."""
        marks = None if entries is None else frozenset(self._checked(entries))
        with self._lock:
            if marks is not None:
                self._undesired = marks
            bundle = self.bundle()
            save_bundle(self.feedback_file, bundle)
            self._saved = self._undesired
        answer: dict[str, Any] = {"file": self.feedback_file.name, "n": len(bundle), "n_undesired": bundle.n_undesired}
        try:
            bundle.require_both_kinds("atu adapt / atu unlearn")
        except ValueError as err:
            answer["warning"] = str(err)
        return answer

    def _checked(self, entries: Any) -> list[int]:
        if not isinstance(entries, list):
            raise MarksError(f'marks: "undesired" must be a list of sample indices, got {type(entries).__name__}')
        return check_marks(entries, self.n)

    def bundle(self) -> FeedbackBundle:
        """The bank with the current marks, recorded as a person's (see `save`)."""
        undesired = torch.zeros(self.n, dtype=torch.bool)
        undesired[sorted(self._undesired)] = True
        labeller: dict[str, Any] = {
            "kind": "marks",
            "tool": "atu label",
            "marked_by": "a person, on the atu label page",
            "n_marked": len(self._undesired),
        }
        if self._bank_record is not None:
            labeller["bank_file"] = self._bank_record
        if self._pre_marked_by is not None:
            labeller["pre_marked_by"] = self._pre_marked_by
        return relabelled(self.bank, undesired, labeller)

    def png(self, index: int) -> bytes:
        """Sample `index` of the bank as PNG bytes: the stored uint8 pixels, unchanged."""
        if not 0 <= index < self.n:
            raise IndexError(f"no sample {index} in a bank of {self.n}")
        cached = self._png_cache.get(index)
        if cached is None:
            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(self.bank.images[index].permute(1, 2, 0).contiguous().numpy(), "RGB").save(buffer, "PNG")
            cached = self._png_cache[index] = buffer.getvalue()
        return cached


def _describe_labeller(labeller: dict[str, Any] | None) -> str | None:
    if labeller is None:
        return None
    source = Path(labeller.get("path", "a classifier")).name
    return f"{source}, class {labeller.get('undesired_label', labeller.get('undesired_class'))}"
