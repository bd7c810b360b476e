"""`atu attack`: does the removed feature come back when someone searches the latent space for it?

  atu attack --gen pretrained.safetensors --model el2=runs/el2/model.safetensors \\
             --model latent=runs/latent/model.safetensors --classifier C.safetensors \\
             --judge C_seed1.safetensors --class 8 --out attack.json

For the pre-trained generator (--gen) and every --model: n seeded latents z are attacked by PGD
(atu/eval/attack.py: 50 signed-gradient steps of 0.02 on z within an L∞ ball of radius 0.1, the
settings of Moon, Cho, Kim, AAAI 2024) toward the class --class under --classifier; the feature
ratio (percent of samples in the class) before and after is judged by --judge, a second classifier
trained with another seed (`atu train-classifier ... --seed 1`), or with --feature MEASURE:topP by
the measurement (--classifier then is the feature's, `atu train-classifier --feature`, and --class
its name), and also reported under the attacker. Every generator sees the same latents and noise.
Written to --out atomically: {"class", "settings", "models": {"pretrained": {"before", "after", "attacker_before",
"attacker_after", "n", "counts"}, NAME: {...}}, "judge", "inputs", "provenance"}.
Exit status: 0 written; 2 bad input (named).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import checkpoint as ckpt
from ..classifiers import load_classifier
from ..classifiers.classes import resolve_class
from ..classifiers.judges import ClassJudge, MeasureJudge
from ..eval.attack import AttackSettings, attack_generators
from ..util.atomic import write_text
from ..util.devices import check_device
from ..util.provenance import file_record, provenance
from ..util.settings import add_options, from_options
from .options import add_class_option, add_device_option, add_feature_option, command_parser, named_files, read_input


def register(subparsers) -> None:
    p = command_parser(
        subparsers, "attack", "PGD on the latent: does the feature come back? (before/after ratios)", __doc__
    )
    p.add_argument("--gen", required=True, help="the pre-trained checkpoint (attacked too, for reference)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="a generator to attack (repeat)")
    p.add_argument("--classifier", required=True, help="the attacker's classifier (its gradients drive PGD)")
    p.add_argument("--judge", help="a second classifier, trained with another seed, that judges (or --feature)")
    add_class_option(p, "the feature's class (a number or a label name of the classifiers)", required=True)
    add_feature_option(
        p,
        "instead of --judge: the measurement judges (its threshold over --data's real images), and "
        "--classifier is the feature's classifier (atu train-classifier --feature)",
    )
    p.add_argument("--data", default="mnist", help="with --feature: the real data of the threshold (default mnist)")
    add_options(p, AttackSettings)
    add_device_option(p)
    p.add_argument("--out", required=True, help="attack.json to write")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=_main)


def _main(args) -> int:
    job = _check(args)

    results = attack_generators(
        job["generators"], job["attacker"], job["judge"], job["settings"], progress=sys.stderr.isatty()
    )
    record = {
        "class": job["class"],
        "settings": job["settings"].to_dict(),
        "models": results,
        "judge": job["judge"].record(),
        "inputs": {
            "gen": file_record(args.gen),
            "classifier": file_record(args.classifier),
            "judge": file_record(args.judge) if args.judge else None,
            "models": {n: file_record(f) for n, f in job["files"].items()},
        },
        "provenance": provenance(),
    }
    write_text(Path(args.out), json.dumps(record, indent=2))
    for name, r in results.items():
        print(
            f"{name:>12}: feature ratio {r['before']:.2f}% → {r['after']:.2f}% under attack "
            f"(attacker's own view {r['attacker_before']:.2f}% → {r['attacker_after']:.2f}%)"
        )
    print(f"atu attack: {args.out}")
    return 0


def _check(args) -> dict:
    """Every file read and every number checked before the first step; errors name the option."""

    if Path(args.out).exists() and not args.force:
        raise ValueError(f"--out {args.out} exists; pass --force to overwrite")
    check_device(args.device)
    attack_settings = from_options(AttackSettings, args)
    files = named_files(args.model, reserved=("pretrained",))
    generator = lambda f: ckpt.load(f).generator(device=args.device).eval()  # noqa: E731
    generators = {"pretrained": read_input("--gen", args.gen, generator)}
    generators.update({name: read_input(f"--model {name}", f, generator) for name, f in files.items()})
    if (args.judge is None) == (args.feature is None):
        raise ValueError("say who judges with exactly one of --judge FILE or --feature MEASURE:topP")
    attacker = read_input("--classifier", args.classifier, load_classifier).to(args.device)
    target = resolve_class(attacker, args.undesired_class)
    if args.feature is not None:
        try:
            judge = MeasureJudge.over(args.feature, args.data, generators["pretrained"].size)
        except (ValueError, OSError) as err:
            raise ValueError(f"--data {args.data}: {err}") from err
    else:
        classifier = read_input("--judge", args.judge, load_classifier).to(args.device)
        if resolve_class(classifier, args.undesired_class) != target:
            raise ValueError(f"--class {args.undesired_class}: the judge numbers it differently from the classifier")
        judge = ClassJudge(classifier, target)
    return {
        "generators": generators,
        "attacker": ClassJudge(attacker, target),
        "judge": judge,
        "class": target,
        "settings": attack_settings,
        "files": files,
    }
