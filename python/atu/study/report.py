"""The study's report: report.md per feature (a table in the layout of the paper's Tables 1–2, the
quality targets checked on this run's numbers, sample grids, the extrapolation strip, training
curves) and out/report.md with every feature's table.

The table's columns are those that ran, in the paper's order: pre-trained, extrapolation (each s),
IL2, NL2, EL2, adversarial only, the redaction family, then the other family, latent feature
unlearning (Moon, Cho, Kim), and the output filter as a reference; rows PUL (and the second judge's),
FID, Ret-FID, the undesired count and the feature ratio; cells "mean ± std" over the seeds. A
recommendation and the PUL–FID plot follow (tradeoff.py); with an attack judge configured, a section
on the latent attack.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..util.atomic import write_text
from . import moon, paper, tradeoff
from .columns import column_title, ordered_columns, subject
from .config import StudyConfig
from .features import Feature
from .figures import write_curves, write_feature_histogram, write_grids
from .inputs import StudyInputs, Trained
from .layout import extrapolation_dir, seed_dir
from .marks import marks_curves, write_marks
from .methods import paper_el2
from .shares import FLAG_SPREADS


def _cell(mean, std, digits: int = 2) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_table(metrics: dict) -> str:
    """The markdown table: rows PUL / FID / Ret-FID / undesired count / feature ratio, one column per model, and
    last, when there is one, the generator retrained without the feature (the reference)."""
    columns = ordered_columns(metrics)
    pre, methods = metrics["pretrained"], metrics["methods"]
    ref = metrics.get("retrained")
    head = (
        "| | Pre-trained | "
        + " | ".join(column_title(c) for c in columns)
        + (" | Retrained (reference) |" if ref else " |")
    )
    rule = "|---|---:|" + "---:|" * (len(columns) + (1 if ref else 0))
    extra = (lambda value: f" {value} |") if ref else (lambda value: "")  # noqa: E731
    rows = [
        "| PUL (%) ↑ | – | "
        + " | ".join(_cell(methods[c]["pul"], methods[c]["pul_std"]) for c in columns)
        + " |"
        + extra(_cell(ref["pul"], None) if ref else ""),
        f"| FID ↓ | {_cell(pre['fid'], None)} | "
        + " | ".join(_cell(methods[c]["fid"], methods[c]["fid_std"]) for c in columns)
        + " |"
        + extra(_cell(ref["fid"], None) if ref else ""),
        f"| Ret-FID ↓ | {_cell(pre['ret_fid'], None)} | "
        + " | ".join(_cell(methods[c]["ret_fid"], methods[c]["ret_fid_std"]) for c in columns)
        + " |"
        + extra("–"),
        f"| undesired / {metrics['n_bank']} | {pre['n_undesired']} | "
        + " | ".join(_cell(methods[c]["n_undesired"], methods[c]["n_undesired_std"], 1) for c in columns)
        + " |"
        + extra(ref["n_undesired"] if ref else ""),
        # the latent-unlearning paper's metric: the same counts as a share of the bank, comparable
        # between generators without reference to the pre-trained one
        f"| Feature ratio (%) ↓ | {_cell(pre.get('feature_ratio'), None)} | "
        + " | ".join(_cell(methods[c].get("feature_ratio"), methods[c].get("feature_ratio_std")) for c in columns)
        + " |"
        + extra(_cell(ref.get("feature_ratio"), None) if ref else ""),
    ]
    # the second judge's counts (with evaluate.judge), the filter's cost
    if "pul_judge2" in pre or any("pul_judge2" in methods[c] for c in columns):
        rows.insert(
            1,
            "| PUL, judge 2 (%) ↑ | – | "
            + " | ".join(_cell(methods[c].get("pul_judge2"), methods[c].get("pul_judge2_std")) for c in columns)
            + " |"
            + extra(_cell(ref.get("pul_judge2"), None) if ref else ""),
        )
        rows.append(
            f"| Feature ratio, judge 2 (%) ↓ | {_cell(pre.get('feature_ratio_judge2'), None)} | "
            + " | ".join(
                _cell(methods[c].get("feature_ratio_judge2"), methods[c].get("feature_ratio_judge2_std"))
                for c in columns
            )
            + " |"
            + extra(_cell(ref.get("feature_ratio_judge2"), None) if ref else "")
        )
    if any("rejected" in methods[c] for c in columns):
        rows.append(
            "| Draws rejected (%) | – | "
            + " | ".join(_cell(methods[c].get("rejected"), None) for c in columns)
            + " |"
            + extra("–")
        )
    # KID and precision/recall in FID's feature space (absent from runs made before they were measured)
    for key, label in (("kid", "KID ↓"), ("precision", "Precision (%) ↑"), ("recall", "Recall (%) ↑")):
        if pre.get(key) is None and not any(methods[c].get(key) is not None for c in columns):
            continue
        rows.append(
            f"| {label} | {_cell(pre.get(key), None)} | "
            + " | ".join(_cell(methods[c].get(key), methods[c].get(f"{key}_std")) for c in columns)
            + " |"
            + extra("–")
        )
    return "\n".join([head, rule, *rows])


def quality_checks(metrics: dict) -> list[str]:
    """The paper's claims, checked on this run's means (only those whose columns ran), on the EL2 set
    beside the paper's (methods.paper_el2: its own update where that ran, else the decoupled step)."""
    methods, pre = metrics["methods"], metrics["pretrained"]
    name = paper_el2(methods)
    el2 = methods[name] if name else None
    lines = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    if el2 is None or el2["pul"] is None:
        return ["(neither el2_paper nor el2 ran, or PUL is undefined: nothing to check)"]
    title = column_title(name)
    lines.append(f"- {title} PUL ≥ 95%: {el2['pul']:.1f}% → {verdict(el2['pul'] >= 95)}")
    ref = metrics.get("retrained")
    if ref is not None and ref["pul"] is not None:
        lines.append(
            f"  (for scale: the generator retrained without the feature scores PUL {ref['pul']:.1f}% under "
            f"this classifier, which reads {ref['n_undesired']} of its {metrics['n_bank']} samples as the "
            f"feature; {title} reaches {el2['pul'] / ref['pul']:.0%} of that)"
            if ref["pul"] > 0
            else f"  (the generator retrained without the feature scores PUL {ref['pul']:.1f}%)"
        )
    limit = tradeoff.FID_BOUND * pre["fid"]
    lines.append(
        f"- {title} FID ≤ {tradeoff.FID_BOUND:g} × pre-trained ({limit:.2f}): {el2['fid']:.2f} → "
        f"{verdict(el2['fid'] <= limit)}"
    )
    covers = tradeoff.keeps_recall(el2, pre)
    if covers is not None:  # the real data the model still covers, which FID alone can hide
        lines.append(
            f"- {title} recall ≥ {tradeoff.RECALL_BOUND:g} × pre-trained "
            f"({tradeoff.RECALL_BOUND * pre['recall']:.1f}%): {el2['recall']:.1f}% → {verdict(covers)}"
        )
    adv = methods.get("adv_only")
    if adv is not None and adv["pul"] is not None:
        lines.append(
            f"- the adversarial-only ablation removes less than {title}: PUL {adv['pul']:.1f}% vs "
            f"{el2['pul']:.1f}% → {verdict(adv['pul'] < el2['pul'])}"
        )
    reaching = [
        (n, m)
        for n, m in methods.items()
        if n.startswith("extrapolation") and m["pul"] is not None and m["pul"] >= el2["pul"] - 2.0
    ]
    if reaching:
        best = min(reaching, key=lambda nm: nm[1]["fid"])
        lines.append(
            f"- extrapolation reaching {title}'s PUL (within 2 points) has a worse FID: best such is "
            f"{best[0]} with PUL {best[1]['pul']:.1f}%, FID {best[1]['fid']:.2f} vs {title}'s {el2['fid']:.2f} "
            f"→ {verdict(best[1]['fid'] > el2['fid'])}"
        )
    elif any(n.startswith("extrapolation") for n in methods):
        lines.append(
            f"- no extrapolation scale reached {title}'s PUL (within 2 points); widen extrapolation.scales "
            "to compare at equal PUL"
        )
    return lines


def _feedback_line(fb: dict) -> str:
    """What the feedback marked: every undesired sample of the bank, or the first N found."""
    rule = fb.get("rule", "predicted class")
    if "negatives" not in fb:
        return f"{fb['undesired']} of {fb['n']} samples undesired ({rule})"
    cut = fb["negatives"]
    return (
        f"the first {cut['n']} undesired samples marked ({rule}), found within the bank's first "
        f"{cut['within_first']}; {fb['n'] - fb['undesired']} desired samples"
    )


def _method_line(cfg: StudyConfig, method: str) -> str:
    if method == "latent":
        c = cfg.latent
        return f"latent {c.steps} steps α = {c.alpha:g} lr = {c.lr:g}"
    if method == "filter":
        return "filter: rejection sampling from the pre-trained model with the judge (trains nothing)"
    run = cfg.unlearn[method]
    repulsion = (
        ""
        if run.gamma == 0
        else (
            f" ({run.kind}"
            + (f" α = {run.alpha:g}" if run.kind == "el2" else "")
            + f", {run.reduction} distance, {'decoupled repulsion step' if run.decoupled else 'coupled'})"
        )
    )
    return (
        f"{method} {run.steps} steps γ = {run.gamma:g}"
        + repulsion
        + (f", redaction w = {run.redact:g} ({run.redact_source})" if run.redact > 0 else "")
    )


def latent_direction_lines(cfg: StudyConfig, fdir: Path) -> list[str]:
    """How well the latent method's one direction separates the feedback (first seed's run.json):
    a low ROC-AUC means sim(w) also catches many feature-free latents, which are then edited too."""
    path = seed_dir(fdir, cfg.seeds[0]) / "latent" / "run.json"
    if "latent" not in cfg.methods or not path.is_file():
        return []
    d = json.loads(path.read_text())["direction"]
    return [
        f"- latent direction in W: ROC-AUC {d['roc_auc']:.3f} of the projection against the marks "
        f"({d['n_present']} with the feature, {d['n_absent']} without); sim = 1 for "
        f"{100 * d['sim_share_present']:.0f}% of the first and {100 * d['sim_share_absent']:.0f}% of the second"
    ]


def attack_table(attack: dict) -> str:
    """Feature ratio (%) before and after the latent attack, judged by the second classifier."""
    s = attack["settings"]
    names = ["pretrained", *(n for n in attack["models"] if n != "pretrained")]
    head = "| | " + " | ".join(column_title(n) for n in names) + " |"
    rule = "|---|" + "---:|" * len(names)
    rows = []
    for key, label in (("before", "before attack"), ("after", "after attack")):
        cells = [_cell(m[key], m.get(f"{key}_std")) for m in (attack["models"][n] for n in names)]
        rows.append(f"| Feature ratio (%), {label} | " + " | ".join(cells) + " |")
    measured = (attack.get("judge") or {}).get("kind") == "measure"
    judged_by = (
        f"the measurement ({attack['judge']['feature']}, threshold {attack['judge']['threshold']:.4g})"
        if measured
        else f"a second classifier (`{attack['inputs']['judge']['path']}`)"
    )
    classifier = attack["inputs"]["classifier"]["path"]
    attacker = f"the feature's classifier (`{classifier}`)" if measured else "the study's classifier"
    note = (
        f"PGD on the latent z: {s['steps']} steps of {s['step_size']:g}, L∞ radius {s['radius']:g}, "
        f"{s['n']} latents per model, toward the feature under {attacker}; judged by {judged_by}."
    )
    return "\n".join([head, rule, *rows, "", note])


def write_feature_report(
    cfg: StudyConfig,
    feature: Feature,
    fdir: Path,
    metrics: dict,
    inputs: StudyInputs,
    trained: Trained,
    *,
    device: str = "cpu",
    attack: dict | None = None,
) -> dict:
    grids = write_grids(cfg, feature, fdir, inputs, trained, device)
    histogram = write_feature_histogram(cfg, feature, fdir, inputs, trained, device)
    curves = write_curves(cfg, fdir)
    recommended, why = tradeoff.recommendation(metrics)
    plot = tradeoff.write_tradeoff_plot(metrics, cfg.data, fdir / "tradeoff.png")
    n_seeds = len(cfg.seeds)
    fb = metrics["feedback"]
    lines = [
        f"# Unlearning {feature.name} ({subject(metrics)})",
        "",
        f"- generator: `{cfg.generator}` (sha256 {metrics['inputs']['generator']['sha256'][:12]}…)",
        (
            f"- judge: the measurement ({subject(metrics)}); FID's features: `{feature.classifier}`"
            if feature.measure
            else f"- judge: `{feature.classifier}`"
        )
        + (f"; second judge: `{feature.judge}`" if feature.judge else "")
        + f"; feedback: {_feedback_line(fb)}",
        f"- methods: {', '.join(cfg.methods)}; seeds: {cfg.seeds}; "
        + (
            f"stage 1: k = {cfg.adapt.k}, {cfg.adapt.steps} steps, λ = {cfg.adapt.lam:g}; "
            if cfg.needs_stage1()
            else ""
        )
        + "runs: "
        + "; ".join(_method_line(cfg, m) for m in cfg.methods),
        *latent_direction_lines(cfg, fdir),
        "",
        f"## Results ({'mean ± std over ' + str(n_seeds) + ' seeds' if n_seeds > 1 else 'one seed'})",
        "",
        results_table(metrics),
        "",
        f"PUL on a bank of {metrics['n_bank']} seeded samples judged by the "
        + ("measurement" if feature.measure else "classifier")
        + "; FID in "
        + (
            "the classifier's penultimate feature space"
            if metrics["fid_features"]["kind"] == "classifier"
            else f"the features of `{metrics['fid_features'].get('file')}`"
        )
        + f" on {metrics['n_fid']} samples against the real data without the feature "
        f"({cfg.data}); Ret-FID against "
        + (f"`{feature.retrained}`" if feature.retrained else "no retrained model (missing, shown as –)")
        + "."
        + (
            " **The PUL bank's seed is the feedback's: PUL counts the very samples the methods were "
            "fitted on** (set evaluate.seed apart from feedback.seed)."
            if cfg.evaluate.seed == cfg.feedback.seed
            else ""
        ),
        "",
        *class_share_section(metrics),
        *(
            [
                f"## The measured feature: {metrics['feature']['feature']}",
                "",
                f"![distribution of the measurement]({histogram})",
                "",
                "Samples right of the threshold (left of it for a bottom feature) hold the feature.",
                "",
            ]
            if histogram
            else []
        ),
        *_paper_section(cfg, metrics),
        "## Recommendation",
        "",
        f"- {why}",
        *(
            [
                "",
                f"![PUL against FID]({plot.relative_to(fdir)})",
                "",
                f"A dot per method (PUL: the lower of the judges' when two count); the dashed line is FID "
                f"{tradeoff.FID_BOUND:g}× the pre-trained model's"
                + ("; the square is the paper's EL2." if paper.comparable(cfg.data, metrics["class"]) else "."),
            ]
            if plot
            else []
        ),
        "",
        "## Quality targets",
        "",
        *quality_checks(metrics),
        "",
        *(["## Latent attack: does the feature come back?", "", attack_table(attack), ""] if attack else []),
        f"## Samples (same latents; top two rows pre-trained, bottom two the model of seed {cfg.seeds[0]}; "
        "red frame: the judge finds the feature)",
        "",
        *[f"**{column_title(name)}**\n\n![{name}]({rel})\n" for name, rel in grids],
    ]
    strip = extrapolation_dir(seed_dir(fdir, cfg.seeds[0])) / "strip.png"
    if strip.is_file():
        lines += [
            "## Extrapolation strip",
            "",
            f"θ_G + s·(θ_G − mean θ_N), one row per s in {cfg.extrapolation_scales} (s = 0 is θ_G):",
            "",
            f"![strip]({strip.relative_to(fdir)})",
            "",
        ]
    if curves:
        lines += ["## Training curves (first seed)", "", *[f"![{name}]({rel})" for name, rel in curves], ""]
    lines += ["Numbers: `metrics.json`; configuration: `../config.json`; each run's `run.json` and `log.jsonl`.", ""]
    write_text(fdir / "report.md", "\n".join(lines))
    return {
        "feature": feature.name,
        "class": metrics["class"],
        **({"feature_judge": metrics["feature"]} if "feature" in metrics else {}),
        "table": results_table(metrics),
        "checks": quality_checks(metrics),
        "attack": attack_table(attack) if attack else None,
        "recommendation": why,
        **dict(zip(("paper_source", "paper"), _beside_the_papers(cfg, metrics))),
        "metrics": metrics,
    }


def class_share_section(metrics: dict) -> list[str]:
    """The share of each class of the classifier in every model's PUL bank (percent; the mean over
    seeds): what else an edit moved besides the feature, in bold where it moved by more than seeds
    and sampling explain (study/shares.py). Empty when the evaluation did not count them."""
    pre = metrics["pretrained"]
    if "class_shares" not in pre:
        return []
    columns = {"Pre-trained": (pre["class_shares"], set())}
    if (metrics.get("retrained") or {}).get("class_shares"):
        columns["Retrained (oracle)"] = (metrics["retrained"]["class_shares"], set())
    for name in ordered_columns(metrics):
        m = metrics["methods"][name]
        if "class_shares" in m:
            columns[column_title(name)] = (m["class_shares"], {moved["class"] for moved in m.get("moved_classes", [])})
    cell = lambda shares, moved, c: f"**{shares[c]:.1f}**" if c in moved else f"{shares[c]:.1f}"  # noqa: E731
    rows = [
        "| class | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *(
            f"| {c} | " + " | ".join(cell(shares, moved, c) for shares, moved in columns.values()) + " |"
            for c in range(len(pre["class_shares"]))
        ),
    ]
    note = (
        "Bold: a class whose share moved from what an edit that removed the feature and nothing else would "
        "draw (the pre-trained model's samples without the feature, in their class proportions) by more "
        f"than {FLAG_SPREADS:g} spreads (its seed-to-seed deviation, or the sampling deviation of two banks "
        f"of {metrics['n_bank']} if larger)."
    )
    return ["## Class shares (% of each model's bank, by the classifier)", "", *rows, "", note, ""]


def _beside_the_papers(cfg: StudyConfig, metrics: dict) -> tuple[str | None, str | None]:
    """(which paper, the table beside it): Tiwary et al.'s classes, Moon et al.'s measured features."""
    if paper.comparable(cfg.data, metrics["class"]):
        return paper.PAPER, paper.comparison_table(metrics)
    if moon.comparable(cfg.data, metrics):
        return moon.PAPER, moon.comparison_table(metrics)
    return None, None


def _paper_section(cfg: StudyConfig, metrics: dict) -> list[str]:
    source, table = _beside_the_papers(cfg, metrics)
    return [f"## Beside the paper ({source})", "", table, ""] if table else []


def write_study_report(cfg: StudyConfig, out: Path, summaries: list[dict]) -> Path:
    lines = ["# atu study", "", f"Generator `{cfg.generator}`; methods {cfg.methods}; seeds {cfg.seeds}.", ""]
    for s in summaries:
        lines += [
            f"## {s['feature']} ({subject(s)}) — [full report]({s['feature']}/report.md)",
            "",
            s["table"],
            "",
            f"Recommended: {s['recommendation']}",
            "",
            *s["checks"],
            "",
        ]
        if s.get("paper"):
            lines += [
                f"Beside the paper ({s.get('paper_source', paper.PAPER)}):",
                "",
                s["paper"],
                "",
            ]
        if s.get("attack"):
            lines += ["Latent attack:", "", s["attack"], ""]
    lines += write_marks(out, marks_curves([s["metrics"] for s in summaries]))
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path
