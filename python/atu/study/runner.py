"""Runs a whole study (features × seeds × methods) in one folder, resumably:

  out/config.json                     the resolved configuration (every default written out)
  out/bank.safetensors                the unlabelled feedback bank (drawn once, shared by the features)
  out/<feature>/feedback.safetensors  the bank labelled by that feature's classifier
  out/<feature>/seed_<s>/adapt/       stage 1 (k adapted models)
  out/<feature>/seed_<s>/<method>/    stage 2, one run per method (el2, el2_paper, il2, nl2, nl2_paper, adv_only)
  out/<feature>/seed_<s>/latent/      latent feature unlearning (atu latent-unlearn; no stage 1)
  out/<feature>/seed_<s>/extrapolation/   the baseline's models and strip.png
  out/<feature>/metrics.json, report.md, grids/, curves/   evaluation and report (report.py)
  out/<feature>/attack.json           the latent attack (when the configuration names a judge)
  out/report.md                       every feature's table (and, for features that remove one
                                      thing at several counts of marks, the negatives marked against
                                      quality: out/marks.json, out/marks_*.png; study/marks.py)

Each step is skipped when its output is complete, continued when it has a checkpoint, started
otherwise; so `--resume` after Ctrl-C (or a crash) redoes nothing that finished, and the training
runs continue exactly (gan/run.py). A feature's evaluation (metrics.json, attack.json) is kept when
it read the same configuration, input files and models as now (study/reuse.py) and is judged again
otherwise; the reports are always rewritten. A resumed study must have the same configuration, except that
methods and seeds may be added (the new runs are done, the old ones reused).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from .. import checkpoint as ckpt
from ..checkpoint.feedback_bundle import load_bundle, save_bundle
from ..feedback.bank import draw_bank
from ..feedback.labelling import first_negatives, label_with_classifier, label_with_judge
from ..gan.run import MODEL_FILE, RUN_FILE, STATE_FILE
from ..latent.run import LatentConfig, latent_unlearn
from ..stages.adapt import adapt
from ..stages.extrapolate import extrapolate, scale_name
from ..stages.memory import stage_peak_bytes
from ..stages.unlearn import unlearn
from ..util.atomic import write_text
from ..util.devices import resolve_device
from ..util.local_group import run_in_group
from ..util.memory import available_bytes, gib
from ..util.provenance import provenance
from .config import AttackSpec, StudyConfig, from_dict
from .evaluation import attack_feature, attack_pair, evaluate_feature
from .inputs import StudyError, StudyInputs, load_inputs, load_trained
from .layout import (
    ATTACK_FILE,
    BANK_FILE,
    CONFIG_FILE,
    FEEDBACK_FILE,
    METRICS_FILE,
    adapt_dir,
    extrapolation_dir,
    seed_dir,
)
from .methods import FILTER_METHOD, LATENT_METHOD
from .report import write_feature_report, write_study_report
from .reuse import evaluation_key, store_result, stored_result

GROWABLE = ("methods", "seeds", "device")  # may change when a study resumes


def check_study_folder(out: Path, cfg: StudyConfig, *, resume: bool) -> None:
    """Refuses to overwrite a study, to resume none, or to resume one with another configuration."""
    stored_file = out / CONFIG_FILE
    if resume and not stored_file.is_file():
        raise StudyError(f"{out}: nothing to resume (no {CONFIG_FILE})")
    if not resume and stored_file.exists():
        raise StudyError(f"{out} already holds a study; pass --resume to continue it or choose another --out")
    if not resume:
        if out.exists() and any(out.iterdir()):
            raise StudyError(f"{out} exists and is not empty; choose another --out")
        return
    stored = json.loads(stored_file.read_text())["config"]
    now = cfg.to_dict()
    # a study written before a setting existed ran with that setting's default
    stored = {**{k: v for k, v in _added_settings().items() if k not in stored}, **stored}
    if isinstance(stored.get("unlearn"), dict) and isinstance(now.get("unlearn"), dict):
        # only what the stored study ran is held to its stored settings: a method it did not run
        # (added to atu since, redefined since, or a variant named now for the first time) takes
        # its configuration of today
        ran = set(stored.get("methods", []))
        stored["unlearn"] = {
            **{m: c for m, c in now["unlearn"].items() if m not in ran},
            **{m: c for m, c in stored["unlearn"].items() if m in ran},
        }
        # a variant the stored study ran and this invocation does not name keeps its stored settings
        now = {**now, "unlearn": {**_stored_variants(stored, now), **now["unlearn"]}}
    diff = sorted(k for k in set(stored) | set(now) if k not in GROWABLE and stored.get(k) != now.get(k))
    if diff:
        raise StudyError(
            f"{out}: cannot resume: the configuration differs in {diff}; only {list(GROWABLE)} may "
            f"change (start a new study in another folder to change the rest)"
        )


def _added_settings() -> dict:
    """Settings added to the configuration after studies were first written, at their defaults
    (as config.json records them)."""

    return {
        "latent": {k: v for k, v in LatentConfig().to_dict().items() if k != "seed"},
        "attack": AttackSpec().to_dict(),
    }


def run_study(
    cfg: StudyConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    processes: int = 1,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
) -> Path:
    """Runs (or continues) the study; returns the path of out/report.md.

    processes > 1 (CPU only): stage 1's k models train side by side and stage 2 runs data parallel,
    each in a group of processes started here (util/local_group.py) with this process's threads
    divided between them. The evaluation stays in this process: its generator batches of 64 keep
    every thread busy, so a group would only add its start-up and repeat KID and precision/recall
    on each rank (docs/results.md, "Several processes on a CPU")."""

    out = Path(out)
    check_study_folder(out, cfg, resume=resume)
    if resume:  # the stored study's methods and seeds with the new ones
        cfg = from_dict(_merged_config(out, cfg))
    device = resolve_device(cfg.device)
    check_processes(processes, device)
    inputs = load_inputs(cfg, device)  # every file read and checked before any work
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / CONFIG_FILE, json.dumps({"config": cfg.to_dict(), "provenance": provenance()}, indent=2))

    bank = _bank(cfg, out, inputs.generator, device, progress, log)
    # every feature's feedback before any training, so a count of marks the bank cannot meet stops the study early
    feedbacks = {f.name: _feedback(f, bank, inputs, cfg.feedback, out / f.name, log) for f in cfg.features}
    summaries = []
    for feature in cfg.features:
        fdir = out / feature.name
        feedback = feedbacks[feature.name]
        k = cfg.adapt_config(cfg.seeds[0]).k if cfg.needs_stage1() else 0  # the adapted models stage 2 holds
        for seed in cfg.seeds:
            sdir = seed_dir(fdir, seed)
            if cfg.needs_stage1():
                acfg = cfg.adapt_config(seed)
                group = _processes_that_fit(
                    min(processes, acfg.k), "adapt", acfg.train.batch_size, k, inputs, device, log
                )
                _stage1(cfg, seed, feedback, adapt_dir(sdir), device, progress, log, group)
            for method in cfg.methods:
                if method == LATENT_METHOD:
                    _latent(cfg, seed, feedback, sdir, device, progress, log)
                elif method != FILTER_METHOD:  # the filter trains nothing
                    labeller = feature.classifier if feature.measure is None else None  # what redact_labeller reads
                    batch = cfg.unlearn_config(method, seed).train.batch_size
                    group = _processes_that_fit(processes, "unlearn", batch, k, inputs, device, log)
                    _stage2(cfg, method, seed, feedback, labeller, sdir, device, progress, log, group)
            _baseline(cfg, sdir, device, log)
        trained = load_trained(cfg, fdir, device)
        key = evaluation_key(cfg, fdir)
        metrics = stored_result(fdir / METRICS_FILE, key)
        if metrics is None:
            log(f"[{feature.name}] evaluating")
            metrics = evaluate_feature(cfg, feature, fdir, inputs, trained, device=device)
            store_result(fdir / METRICS_FILE, metrics, key)
        else:
            log(f"[{feature.name}] evaluated before with the same models and settings: {METRICS_FILE} kept")
        attack = None
        if cfg.attack.judge is not None and attack_pair(feature, inputs) is not None:
            attack = stored_result(fdir / ATTACK_FILE, key)
            if attack is None:
                log(f"[{feature.name}] latent attack")
                attack = attack_feature(cfg, feature, inputs, trained, device=device, progress=progress)
                store_result(fdir / ATTACK_FILE, attack, key)
        elif cfg.attack.judge is not None:  # PGD needs a classifier to attack with
            log(f"[{feature.name}] no latent attack: the measured feature has no classifier (its judge) to attack with")
        summaries.append(
            write_feature_report(cfg, feature, fdir, metrics, inputs, trained, device=device, attack=attack)
        )
        log(f"[{feature.name}] report: {fdir / 'report.md'}")
    return write_study_report(cfg, out, summaries)


def _stored_variants(stored: dict, now: dict) -> dict:
    """The stage-2 settings of the stored study's methods that `now` has none for (its variants
    METHOD@KEY=VALUE, which exist only where they are named)."""
    return {
        m: c
        for m, c in stored.get("unlearn", {}).items()
        if m in stored.get("methods", []) and m not in now.get("unlearn", {})
    }


def _merged_config(out: Path, cfg: StudyConfig) -> dict:
    """On resume: the configuration with the union of the stored and the new methods and seeds
    (each stored variant with its stored settings). The resumed study runs, evaluates and reports
    all of them, so config.json, metrics.json and the report list every run the folder holds; what
    finished is not redone."""
    stored = json.loads((out / CONFIG_FILE).read_text())["config"]
    now = cfg.to_dict()
    union = lambda a, b: list(dict.fromkeys([*a, *b]))  # noqa: E731 (order kept)
    return {
        **now,
        "methods": union(stored["methods"], now["methods"]),
        "seeds": union(stored["seeds"], now["seeds"]),
        "unlearn": {**_stored_variants(stored, now), **now["unlearn"]},
    }


def _bank(cfg: StudyConfig, out: Path, G, device: str, progress: bool, log) -> Path:

    path = out / BANK_FILE
    if path.is_file():
        return path
    spec = cfg.feedback
    log(f"drawing the feedback bank: {spec.n} samples (seed {spec.seed})")
    # batch_size is an upper bound: at high resolution fewer samples fit one pass (images_per_pass)
    bundle = draw_bank(
        G.to(device).eval(),
        spec.n,
        spec.seed,
        truncation=spec.truncation,
        batch_size=G.images_per_pass(at_most=spec.batch_size),
        generator_file=cfg.generator,
        progress=progress,
    )
    save_bundle(path, bundle)
    return path


def _feedback(feature, bank_file: Path, inputs: StudyInputs, spec, fdir: Path, log) -> Path:
    """The feature's feedback bundle: the bank labelled by its judge (spec: the study's FeedbackSpec),
    cut to the first N undesired samples when the feature's negatives or the study's set N."""
    path = fdir / FEEDBACK_FILE
    if path.is_file():
        return path
    if feature.measure is not None:  # the measurement marks the samples
        bundle = label_with_judge(load_bundle(bank_file), inputs.judges[feature.name])
    else:
        bundle = label_with_classifier(
            load_bundle(bank_file),
            inputs.classifiers[feature.name],
            feature.undesired,
            threshold=spec.threshold,
            classifier_file=feature.classifier,
        )
    bundle.require_both_kinds(f"feature {feature.name!r}")
    negatives, key = (
        (feature.negatives, "negatives") if feature.negatives is not None else (spec.negatives, "feedback.negatives")
    )
    if negatives is not None:
        try:
            bundle = first_negatives(bundle, negatives)
        except ValueError as err:
            raise StudyError(f"feature {feature.name!r}: {key}: {err}") from err
        log(
            f"[{feature.name}] feedback: the first {negatives} undesired samples marked (found within the "
            f"first {bundle.metadata['negatives']['within_first']}), {len(bundle) - negatives} desired"
        )
    else:
        log(f"[{feature.name}] feedback: {bundle.n_undesired} of {len(bundle)} samples undesired")
    save_bundle(path, bundle)
    return path


def check_processes(processes: int, device: str) -> None:
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise StudyError(f"--processes must be a whole number >= 1, got {processes!r}")
    if processes > 1 and device != "cpu":
        raise StudyError(
            f"--processes {processes}: several processes are for CPU runs (the device is {device}); "
            f"on GPUs run the stage commands under torchrun (docs/scaling.md)"
        )


def processes_that_fit(wanted: int, need_each: int, free: int | None) -> int:
    """At most `wanted` processes, as many as `free` bytes hold at `need_each` bytes each, and at
    least one (what the stage needs in any case); `wanted` where the free memory is unknown."""
    if wanted <= 1 or free is None:
        return wanted
    return max(1, min(wanted, free // need_each))


def _processes_that_fit(wanted: int, stage: str, batch: int, k: int, inputs: StudyInputs, device: str, log) -> int:
    """The processes a stage may start side by side, `wanted` at most: each holds its own models
    (stages/memory.py predicts one's peak), so where they would not all fit the memory free now,
    fewer run, and the log says so."""
    if wanted <= 1:
        return wanted
    need = stage_peak_bytes(inputs.generator, inputs.discriminator, batch, stage, k=k)
    free = available_bytes(device)
    group = processes_that_fit(wanted, need, free)
    if group < wanted:
        log(
            f"{stage}: {wanted} processes side by side would need about {gib(wanted * need)} and {gib(free)} is free;"
            f" {group} at a time"
        )
    return group


def stage2_processes(batch_size: int, processes: int) -> int:
    """The processes stage 2 runs on: `processes` when each gets whole minibatch-stddev groups of 4
    (the run then equals a one-process run up to rounding: util/distributed.DataParallel), else 1."""
    return processes if batch_size % (4 * processes) == 0 else 1


def _stage1(
    cfg: StudyConfig, seed: int, feedback: Path, folder: Path, device: str, progress: bool, log, processes: int = 1
) -> None:
    acfg = cfg.adapt_config(seed)
    done = [folder / f"model_{j}" / MODEL_FILE for j in range(acfg.k)]
    if all(p.is_file() and _step(p) >= acfg.steps for p in done):
        return
    group = min(processes, acfg.k)  # model j trains on rank j % group
    log(
        f"stage 1 (seed {seed}): {acfg.k} adapted models × {acfg.steps} steps in {folder}"
        + (f" ({group} side by side)" if group > 1 else "")
    )
    run_in_group(
        adapt,
        (cfg.generator, feedback, folder, acfg),
        {"resume": (folder / RUN_FILE).is_file(), "device": device, "schedule": cfg.schedule, "progress": progress},
        processes=group,
        device=device,
    )


def _stage2(
    cfg: StudyConfig,
    method: str,
    seed: int,
    feedback: Path,
    labeller: Path,
    sdir: Path,
    device: str,
    progress: bool,
    log,
    processes: int = 1,
) -> None:
    ucfg = cfg.unlearn_config(method, seed)
    folder = sdir / method
    if (folder / MODEL_FILE).is_file() and _step(folder / MODEL_FILE) >= ucfg.steps:
        return
    resume = (folder / STATE_FILE).is_file()
    if not resume and folder.exists():
        # Stopped before its first checkpoint: nothing worth keeping, and the folder is ours.
        shutil.rmtree(folder)
    group = stage2_processes(ucfg.train.batch_size, processes)
    log(
        f"stage 2 (seed {seed}): {method}, {ucfg.steps} steps in {folder}"
        + (f" (data parallel over {group} processes)" if group > 1 else "")
    )
    # Without stage 1 (no method repels and no extrapolation) a γ = 0 run trains without θ_N; with it,
    # it still reads them, to log its distance d to them.
    adapted = adapt_dir(sdir) if cfg.needs_stage1() else None
    run_in_group(
        unlearn,
        (cfg.generator, adapted, feedback, folder, ucfg),
        {"resume": resume, "device": device, "schedule": cfg.schedule, "progress": progress, "labeller": labeller},
        processes=group,
        device=device,
    )


def _latent(cfg: StudyConfig, seed: int, feedback: Path, sdir: Path, device: str, progress: bool, log) -> None:
    lcfg = cfg.latent_config(seed)
    folder = sdir / LATENT_METHOD
    if (folder / MODEL_FILE).is_file() and _step(folder / MODEL_FILE) >= lcfg.steps:
        return
    resume = (folder / STATE_FILE).is_file()
    if not resume and folder.exists():
        shutil.rmtree(folder)  # stopped before its first checkpoint: nothing worth keeping
    log(f"latent unlearning (seed {seed}): {lcfg.steps} steps in {folder}")
    latent_unlearn(
        cfg.generator, feedback, folder, lcfg, resume=resume, device=device, schedule=cfg.schedule, progress=progress
    )


def _baseline(cfg: StudyConfig, sdir: Path, device: str, log) -> None:
    if not cfg.extrapolation_scales:
        return
    folder = extrapolation_dir(sdir)
    wanted = [folder / f"{scale_name(s)}.safetensors" for s in cfg.extrapolation_scales] + [folder / "strip.png"]
    if all(p.is_file() for p in wanted):
        return
    log(f"extrapolation baseline: s in {cfg.extrapolation_scales} in {folder}")
    # force: files of an interrupted earlier attempt are incomplete by definition and ours to replace
    extrapolate(cfg.generator, adapt_dir(sdir), folder, cfg.extrapolation_scales, force=True, device=device)


def _step(path: Path) -> int:
    return int(ckpt.load_atu(path).metadata.get("step", -1))
