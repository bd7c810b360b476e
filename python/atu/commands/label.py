"""`atu label`: mark the undesired samples in a browser; Save writes the feedback bundle.

  atu label --gen G.safetensors --n 200 --out marks/      then open http://127.0.0.1:8765/
  atu label --gen G.safetensors --out marks/ --class 8    start from a classifier's marks, to review
                                                          (--classifier C; default: the shipped MNIST one)
  atu label --gen G.safetensors --out marks/ --classifier hat.safetensors
                                                          a two-class attribute classifier pre-marks its class 1
  atu label --out marks/                                  reopen: the same bank, the marks last saved

DIR/bank.safetensors holds the seeded samples, drawn once; DIR/feedback.safetensors is what Save
writes: the format of `atu feedback`, for `atu adapt --feedback` and `atu unlearn --feedback`.
Reopening DIR reuses its bank (--n, --seed, --truncation default to the bank's; any given, and
--gen, must match it) and restores the saved marks, which win over --class pre-marks.
The server binds 127.0.0.1 unless --host says otherwise: the page has no login, so anyone who can
reach the port can see the samples and change the marks.
Exit status: 0 stopped with Ctrl-C; 2 bad arguments, input files or port, reported before anything
is written.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import CheckpointError
from ..classifiers import load_classifier
from ..feedback import FeedbackBundle, label_with_classifier, load_bundle, save_bundle
from ..label.folder import LabelFolder, bank_differences, same_samples
from ..label.server import make_server
from ..label.session import DEFAULT_PAGE_SIZE, MarkingSession
from ..models.fits import require_batch_fits
from ..util.provenance import file_record
from ..util.validate import count_arg
from .feedback import (
    BankRequest,
    add_batch_and_device_options,
    add_classifier_option,
    add_sample_options,
    draw_requested_bank,
    take_classifier,
    take_generator,
)
from .options import UsageError, add_class_option, command_parser, device_option, existing_file, same_file

DEFAULT_N = 200  # a page or two for a person to mark, not atu feedback's bank
DEFAULT_PORT = 8765


@dataclass(kw_only=True)
class LabelRequest(BankRequest):
    """A checked `atu label` invocation: files read, numbers in range, DIR consistent with them. The
    bank is the one already in DIR, or drawn from the generator; the classifier (--class) gives the
    marks the page starts from."""

    folder: LabelFolder
    page_size: int
    host: str
    port: int
    n: int = DEFAULT_N
    saved: FeedbackBundle | None = None  # marks saved earlier in DIR


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "label", "mark undesired samples in a browser page; Save writes the feedback bundle", __doc__
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the bank and the feedback bundle")
    add_sample_options(p.add_argument_group("samples (drawn once into DIR)"), DEFAULT_N, also=", or DIR's bank's")
    premarks = p.add_argument_group("pre-marking (optional; the person reviews the classifier's marks)")
    add_class_option(
        premarks, "start with the samples the classifier assigns to class C (number or label name) marked", metavar="C"
    )
    add_classifier_option(premarks)
    server = p.add_argument_group("the page")
    server.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; others only if you say so)",
    )
    server.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)"
    )
    server.add_argument("--page-size", type=count_arg, default=DEFAULT_PAGE_SIZE, help="samples per page of the grid")
    add_batch_and_device_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    request = check_arguments(args)
    try:
        server = make_server(None, request.host, request.port)
    except OSError as err:
        raise UsageError(
            f"cannot listen on {request.host} port {request.port}: {err.strerror or err} "
            f"(another atu label running? choose another --port)"
        ) from err
    if server.allowed_hosts is None:
        print(
            f"atu label: note: listening on {request.host}, not only this machine: anyone who can reach "
            f"port {server.port} can see the samples and change the marks",
            file=sys.stderr,
        )
    try:
        session = open_session(request, progress=True)  # a log file shows it too (a line every 30 s)
        server.session = session
        print(f"atu label: {describe(session, request)}")
        print(
            f"atu label: open {server.url} in a browser; Save writes {request.folder.feedback_file}; Ctrl-C stops",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            left = "; the marks made since the last Save are NOT saved" if session.unsaved else ""
            print(f"\natu label: stopped{left}", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def open_session(request: LabelRequest, progress: bool = False) -> MarkingSession:
    """Draws and writes the bank if DIR has none, then the marks to start from: the saved ones, else
    the classifier's (for review), else none."""
    folder = request.folder
    bank = request.bank
    if bank is None:
        bank = draw_requested_bank(request, progress)
        save_bundle(folder.bank_file, bank)
    initial, saved, pre_marked_by = [], None, None
    if request.saved is not None:
        initial = saved = request.saved.undesired.nonzero().flatten().tolist()
        pre_marked_by = request.saved.metadata.get("labeller", {}).get("pre_marked_by")
    elif request.classifier is not None:
        judged = label_with_classifier(
            bank,
            request.classifier.to(request.device),
            request.undesired_class,
            classifier_file=request.classifier_file,
            batch_size=request.batch_size or 64,
        )
        initial = judged.undesired.nonzero().flatten().tolist()
        pre_marked_by = judged.metadata["labeller"]
    return MarkingSession(
        bank,
        folder.feedback_file,
        initial=initial,
        saved=saved,
        page_size=request.page_size,
        bank_record=file_record(folder.bank_file),
        pre_marked_by=pre_marked_by,
    )


def describe(session: MarkingSession, request: LabelRequest) -> str:
    sampling = session.bank.metadata.get("sampling", {})
    text = (
        f"{session.n} samples in {request.folder.bank_file} (seed {sampling.get('seed')}, "
        f"truncation {sampling.get('truncation')})"
    )
    marked = len(session.marks())
    if request.saved is not None:
        text += f"; {marked} marks restored from {request.folder.feedback_file.name}"
        if request.classifier is not None:
            text += " (they are kept: --class pre-marks only a folder without saved marks)"
    elif request.classifier is not None:
        text += f"; {marked} pre-marked by {request.classifier_file.name} for review (not saved yet)"
    return text


# ---- checking the arguments ----------------------------------------------------------------------


def check_arguments(args) -> LabelRequest:
    """Everything that can go wrong before the bank is drawn or anything is written: raises
    UsageError (or the readers' errors)."""
    folder = LabelFolder(Path(args.out))
    if folder.root.exists() and not folder.root.is_dir():
        raise UsageError(f"--out {folder.root} is not a folder")
    _check_writable(folder.root)
    for flag, value, low in (
        ("--n", args.n, 1),
        ("--page-size", args.page_size, 1),
        ("--batch-size", args.batch_size, 1),
    ):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be >= {low}, got {value}")
    if args.truncation is not None and not 0 < args.truncation <= 1:
        raise UsageError(f"--truncation must be in (0, 1] (1 = no truncation), got {args.truncation}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    if not args.host.strip():
        raise UsageError("--host is empty")
    if args.classifier is not None and args.undesired_class is None:
        args.undesired_class = _implied_class(args.classifier)
    request = LabelRequest(
        folder=folder,
        device=device_option(args.device),
        batch_size=args.batch_size,
        page_size=args.page_size,
        host=args.host,
        port=args.port,
    )
    if folder.bank_file.exists():
        _take_existing_bank(args, request)
    else:
        take_generator(args, request, DEFAULT_N)
        if request.batch_size is not None:  # given by the user: refused now if it cannot fit
            require_batch_fits(request.generator, request.batch_size, request.device, "--batch-size")
    if folder.feedback_file.exists():
        if request.bank is None:
            raise UsageError(
                f"--out {folder.root} holds {folder.feedback_file.name} but no {folder.bank_file.name} "
                f"to go with it; use another --out"
            )
        request.saved = _read(folder.feedback_file, "saved marks")
        if not same_samples(request.saved, request.bank):
            raise UsageError(
                f"--out {folder.root}: {folder.feedback_file.name} holds marks on other samples "
                f"than {folder.bank_file.name}"
            )
    if args.undesired_class is not None:
        take_classifier(args, request)
    for flag, path in (("--gen", request.generator_file), ("--classifier", request.classifier_file)):
        if path is not None and any(same_file(path, inside) for inside in (folder.bank_file, folder.feedback_file)):
            raise UsageError(f"{flag} {path} is one of the files atu label writes in --out {folder.root}")
    return request


def _implied_class(classifier: str) -> str:
    """--classifier without --class: an attribute classifier (two classes) pre-marks the samples it
    reads as having the attribute (class 1); with more classes, which one is undesired must be said."""

    path = existing_file(classifier, "--classifier")
    try:
        n_classes = int(load_classifier(path).config()["num_classes"])
    except (ValueError, KeyError, OSError) as err:
        raise UsageError(f"--classifier {path}: {err}") from err
    if n_classes != 2:
        raise UsageError(
            f"--classifier {path} has {n_classes} classes: --classifier goes with --class C (which of "
            f"its classes to pre-mark); only a two-class attribute classifier implies its class 1"
        )
    return "1"


def _take_existing_bank(args, request: LabelRequest) -> None:
    folder = request.folder
    request.bank = _read(folder.bank_file, "bank")
    generator_sha256 = None
    if args.gen is not None:
        request.generator_file = existing_file(args.gen, "--gen")
        generator_sha256 = file_record(request.generator_file)["sha256"]
    differences = bank_differences(
        request.bank, generator_sha256=generator_sha256, n=args.n, seed=args.seed, truncation=args.truncation
    )
    if differences:
        raise UsageError(
            f"--out {folder.root} already holds a bank that is not the one asked for: "
            f"{'; '.join(differences)}. Use another --out, or leave out what differs to reopen it"
        )
    sampling = request.bank.metadata.get("sampling", {})
    request.n, request.seed = len(request.bank), sampling.get("seed")
    request.truncation = sampling.get("truncation")


def _read(path: Path, what: str) -> FeedbackBundle:
    try:
        return load_bundle(path)
    except CheckpointError as err:
        raise UsageError(f"{path} (the {what} of this folder) cannot be read: {err}") from err


def _check_writable(folder: Path) -> None:
    # The nearest folder that exists is where the bank (and the folder itself) will be created.
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {folder}: cannot write in {existing}")
