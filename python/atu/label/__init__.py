"""`atu label`: a person marks undesired samples in a local web page.

folder    the output folder: the seeded bank (drawn once) and the feedback bundle, and whether a
          folder on disk belongs to the bank a command line asks for
session   the marks being made: validated updates, PNGs of the bank's samples, atomic saves
server    the HTTP endpoints (standard library http.server), bound to 127.0.0.1 by default
page.html the page itself: inline HTML/CSS/JS, no external requests
(the `atu label` command line is atu/commands/label.py)
"""

from .folder import BANK_NAME, FEEDBACK_NAME, LabelFolder
from .server import make_server
from .session import MarkingSession

__all__ = ["BANK_NAME", "FEEDBACK_NAME", "LabelFolder", "MarkingSession", "make_server"]
