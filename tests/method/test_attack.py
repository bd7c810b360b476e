"""`atu attack` (atu/eval/attack.py): PGD on the latent stays in its L∞ ball at every step and
raises the attacked class's score where the answer is known (a linear classifier on a linear
generator); on a tiny StyleGAN2 the counts match an independent recount; the command writes
attack.json and names bad input."""

import json

import pytest
import torch

from atu import checkpoint as ckpt
from atu.classifiers import predict
from atu.classifiers.judges import ClassJudge
from atu.cli import main as atu_main
from atu.eval.attack import attack_feature_ratio, pgd_latent
from tiny_classifiers import saved_random_lenet
from tiny_gans import saved_study_models, tiny_study

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _linear_problem(seed=0, n=64, dim=6):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(12, dim, generator=g)  # generator: x = A z
    W = torch.randn(2, 12, generator=g)  # classifier: logits = W x
    z = torch.randn(n, dim, generator=g)
    return (lambda latents: latents @ A.T), (lambda x: x @ W.T), z, A, W


def test_pgd_never_leaves_the_ball_and_raises_the_target_score_on_a_linear_problem():
    render, logits_of, z, A, W = _linear_problem()
    radius, seen = 0.1, []

    def check(k, delta):
        assert delta.abs().max() <= radius + 1e-7, f"step {k} left the ball"
        seen.append(k)

    z_adv = pgd_latent(render, logits_of, z, target=1, steps=50, step_size=0.02, radius=radius, on_step=check)
    assert seen == list(range(1, 51))
    assert (z_adv - z).abs().max() <= radius + 1e-6  # (z + δ) − z rounds in float32
    margin = lambda latents: logits_of(render(latents)) @ torch.tensor([-1.0, 1.0])  # noqa: E731
    # known answer: the margin is linear in z with gradient v = (W₁ − W₀)A, so the best move in the
    # ball is radius·sign(v), raising every margin by radius·||v||₁; 50 steps of 0.02 reach it
    v = (W[1] - W[0]) @ A
    assert torch.allclose(margin(z_adv) - margin(z), torch.full((len(z),), radius * float(v.abs().sum())), atol=1e-4)
    assert torch.allclose(z_adv - z, radius * v.sign().expand_as(z), atol=1e-6)


def test_zero_steps_or_zero_radius_leave_the_latents_as_they_are():
    render, logits_of, z, _, _ = _linear_problem()
    assert torch.equal(pgd_latent(render, logits_of, z, 1, steps=0), z)
    assert torch.equal(pgd_latent(render, logits_of, z, 1, radius=0.0), z)
    with pytest.raises(ValueError, match="step_size > 0"):
        pgd_latent(render, logits_of, z, 1, step_size=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack")
    G, _, gen = saved_study_models(root)
    G.eval()
    classifiers = [saved_random_lenet(root / f"c{seed}.safetensors", seed, num_classes=2) for seed in (1, 2)]
    return {"G": G, "gen": gen, "attacker": classifiers[0], "judge": classifiers[1], "root": root}


def test_the_ratios_are_recounts_of_the_attacked_samples_and_the_attack_raises_the_attackers(tiny):
    G, attacker, judge = tiny["G"], tiny["attacker"], tiny["judge"]
    r = attack_feature_ratio(G, ClassJudge(attacker, 1), ClassJudge(judge, 1), n=12, seed=4, steps=5, batch_size=5)
    # independent recount: the same latents and noise, drawn the documented way, attacked whole
    z, noise = G.sample_inputs(4, 0, 12)
    render = lambda latents: G([latents], noise=noise)[0]  # noqa: E731
    z_adv = pgd_latent(render, lambda x: attacker(x), z, 1, steps=5)
    with torch.no_grad():
        before, after = render(z), render(z_adv)
    assert r["before"] == pytest.approx(100 * float((predict(judge, before) == 1).float().mean()))
    assert r["after"] == pytest.approx(100 * float((predict(judge, after) == 1).float().mean()))
    assert r["attacker_before"] == pytest.approx(100 * float((predict(attacker, before) == 1).float().mean()))
    assert r["attacker_after"] >= r["attacker_before"]


def test_the_command_writes_attack_json_and_names_bad_input(tiny, tmp_path, capsys):
    out = tmp_path / "attack.json"
    judges = ["--classifier", str(tiny["root"] / "c1.safetensors"), "--judge", str(tiny["root"] / "c2.safetensors")]
    base = ["attack", "--gen", str(tiny["gen"]), *judges, "--class", "1", "--n", "6", "--steps", "2", "--device", "cpu"]
    assert atu_main(base + ["--model", f"same={tiny['gen']}", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record["models"]) == {"pretrained", "same"} and record["settings"]["steps"] == 2
    assert record["models"]["same"] == record["models"]["pretrained"]  # same generator, same latents
    assert atu_main(base + ["--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert atu_main(base + ["--model", "x=/nonexistent.safetensors", "--out", str(tmp_path / "b.json")]) == 2
    assert "--model x /nonexistent.safetensors: no such file" in capsys.readouterr().err
    assert atu_main(base[:-6] + ["--class", "7", "--out", str(tmp_path / "c.json")]) == 2
    assert "class '7'" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "c.json").exists()


def test_the_command_judges_a_measured_feature_by_its_measurement(tiny, tmp_path, capsys):
    from atu.classifiers.judges import MeasureJudge

    out = tmp_path / "attack.json"
    base = ["attack", "--gen", str(tiny["gen"]), "--classifier", str(tiny["root"] / "c1.safetensors"), "--class", "1"]
    settings = ["--n", "6", "--steps", "2", "--device", "cpu"]
    measured = ["--feature", "area:top50", "--data", "digits"]
    assert atu_main([*base, *measured, *settings, "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    judge = MeasureJudge.over("area:top50", "digits", resolution=16)
    assert record["judge"] == judge.record()
    unattacked = tiny["G"].sample(6, seed=0)
    assert record["models"]["pretrained"]["before"] == pytest.approx(100 * judge.holds(unattacked).float().mean())
    both = [*measured, "--judge", str(tiny["root"] / "c2.safetensors")]
    assert atu_main([*base, *both, *settings, "--out", str(tmp_path / "b.json")]) == 2
    assert "exactly one of --judge FILE or --feature" in capsys.readouterr().err and not (tmp_path / "b.json").exists()


# ---- in a study: both families side by side, and the attack in the report ----------------------------


@pytest.fixture(scope="module")
def study_files(tmp_path_factory):
    """test_study.py's tiny inputs: a 16-px generator, a random LeNet judge and a class it assigns
    to some of the samples; plus a second LeNet (another seed) as the attack's judge."""
    root = tmp_path_factory.mktemp("attack_study")
    G, _, gen = saved_study_models(root)
    paths = [root / f"c{seed}.safetensors" for seed in (1, 2)]
    judge = saved_random_lenet(paths[0], 1, num_classes=10)
    saved_random_lenet(paths[1], 2, num_classes=10)
    counts = torch.bincount(predict(judge, G.eval().sample(40, seed=0)), minlength=10)
    target = int(counts.argmax())
    assert 0 < counts[target] < 40
    return {"gen": gen, "clf": paths[0], "judge": paths[1], "class": target}


def _study_raw(files, **changes):
    return (
        tiny_study(
            files["gen"],
            files["clf"],
            [{"name": "f", "undesired": files["class"]}],
            methods=["el2", "latent"],
            latent={"steps": 3, "batch_size": 4},
            attack={"judge": str(files["judge"]), "n": 6, "steps": 2},
            extrapolation={"scales": []},
        )
        | changes
    )


def test_a_study_reports_both_families_and_the_attack(study_files, tmp_path, monkeypatch):
    from atu.study import from_dict, run_study, runner

    cfg = from_dict(_study_raw(study_files))
    report = run_study(cfg, tmp_path / "s", progress=False, log=lambda m: None)
    fdir = tmp_path / "s" / "f"
    latent_run = json.loads((fdir / "seed_0" / "latent" / "run.json").read_text())
    assert latent_run["stage"] == "latent_unlearn" and latent_run["config"]["seed"] == 0
    assert latent_run["config"]["steps"] == 3
    metrics = json.loads((fdir / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"el2", "latent"}
    assert metrics["methods"]["latent"]["feature_ratio"] == pytest.approx(
        100 * metrics["methods"]["latent"]["n_undesired"] / 40
    )
    text = (fdir / "report.md").read_text()
    assert "| | Pre-trained | EL2 | Latent |" in text  # the two families side by side
    assert "| Feature ratio (%) ↓ |" in text
    auc = latent_run["direction"]["roc_auc"]
    assert f"latent direction in W: ROC-AUC {auc:.3f}" in text
    assert "## Latent attack" in text and "| | Pre-trained | EL2 | Latent |\n" in text.split("## Latent attack")[1]
    attack = json.loads((fdir / "attack.json").read_text())
    assert set(attack["models"]) == {"pretrained", "el2", "latent"} and attack["settings"]["steps"] == 2
    assert "Latent attack" in report.read_text()
    # the latent model's attack numbers are those of attack_feature_ratio on its file, recomputed
    from atu.classifiers import load_classifier

    G = ckpt.load(fdir / "seed_0" / "latent" / "model.safetensors").generator().eval()
    again = attack_feature_ratio(
        G,
        ClassJudge(load_classifier(study_files["clf"]), study_files["class"]),
        ClassJudge(load_classifier(study_files["judge"]), study_files["class"]),
        n=6,
        steps=2,
        seed=0,
    )
    assert attack["models"]["latent"]["seeds"][0]["after"] == pytest.approx(again["after"])
    # resumed with nothing changed: the attack is kept, not run again, and the report still shows it
    stored = (fdir / "attack.json").read_bytes()
    monkeypatch.setattr(runner, "attack_feature", lambda *a, **k: pytest.fail("the attack ran again"))
    run_study(cfg, tmp_path / "s", resume=True, progress=False, log=lambda m: None)
    assert (fdir / "attack.json").read_bytes() == stored and "## Latent attack" in (fdir / "report.md").read_text()


def test_the_attack_takes_the_papers_update_where_it_ran_beside_the_decoupled_step(study_files, tmp_path):
    """Adapt-then-Unlearn's model under attack is the one set beside the paper's EL2: el2_paper, not el2."""
    from atu.study import from_dict, run_study

    cfg = from_dict(_study_raw(study_files, methods=["el2", "el2_paper", "latent"]))
    run_study(cfg, tmp_path / "s", progress=False, log=lambda m: None)
    attack = json.loads((tmp_path / "s" / "f" / "attack.json").read_text())
    assert list(attack["models"]) == ["pretrained", "el2_paper", "latent"]
    section = (tmp_path / "s" / "f" / "report.md").read_text().split("## Latent attack")[1]
    assert "| | Pre-trained | EL2 (paper's update) | Latent |\n" in section


def test_the_latent_method_alone_needs_no_stage_1(study_files, tmp_path):
    from atu.study import from_dict, run_study

    cfg = from_dict(_study_raw(study_files, methods=["latent"], attack={}))
    run_study(cfg, tmp_path / "s", progress=False, log=lambda m: None)
    assert not (tmp_path / "s" / "f" / "seed_0" / "adapt").exists()
    assert (tmp_path / "s" / "f" / "seed_0" / "latent" / "model.safetensors").is_file()
    assert not (tmp_path / "s" / "f" / "attack.json").exists()  # no judge: no attack
    assert "stage 1:" not in (tmp_path / "s" / "f" / "report.md").read_text()  # no settings of a stage that did not run


@pytest.mark.parametrize(
    "change, message",
    [
        ({"latent": {"stepz": 3}}, "latent.stepz"),
        ({"latent": {"alpha": 0}}, "alpha"),
        ({"latent": {"lr": "5e-4"}}, "latent.lr: expected a number"),
        ({"attack": {"judge": "/nonexistent/c.safetensors"}}, "attack.judge: /nonexistent/c.safetensors: no such file"),
        ({"attack": {"radius": -1}}, "radius"),
        ({"attack": {"raduis": 0.1}}, "attack.raduis"),
        ({"unlearn": {"methods": {"latent": {"gamma": 1}}}}, "unlearn.methods.latent"),
    ],
)
def test_bad_latent_and_attack_settings_name_the_key(study_files, change, message):
    from atu.study import ConfigError, from_dict

    with pytest.raises(ConfigError) as err:
        from_dict(_study_raw(study_files, **change))
    assert message in str(err.value)


def test_a_study_written_before_the_latent_and_attack_settings_existed_still_resumes(study_files, tmp_path):
    from atu.study import StudyError, from_dict
    from atu.study.runner import check_study_folder

    cfg = from_dict(_study_raw(study_files, latent={}, attack={}))  # both at their defaults
    stored = {k: v for k, v in cfg.to_dict().items() if k not in ("latent", "attack")}
    (tmp_path / "config.json").write_text(json.dumps({"config": stored}))
    check_study_folder(tmp_path, cfg, resume=True)  # no complaint
    changed = from_dict(_study_raw(study_files, latent={"steps": 7}, attack={}))
    with pytest.raises(StudyError, match="differs in \\['latent'\\]"):
        check_study_folder(tmp_path, changed, resume=True)


def test_the_shipped_second_judge_is_another_seed_and_as_accurate_on_its_own_held_out_split():
    """Recomputes its held-out split from the metadata and counts correct answers with a plain
    forward pass (as test_classifiers.py does for the first classifier)."""
    from atu import assets
    from atu.classifiers import load_classifier
    from atu.data import load_dataset, split

    judge = load_classifier(assets.path(assets.SHIPPED["digits"].second_classifier))
    first = load_classifier(assets.path(assets.SHIPPED["digits"].classifier))
    assert judge.metadata["split"]["seed"] == 1 != first.metadata["split"]["seed"]
    assert any(not torch.equal(a, b) for a, b in zip(judge.state_dict().values(), first.state_dict().values()))
    data = load_dataset("digits", resolution=32)
    _, held_out = split(data, judge.metadata["split"]["held_out"], seed=1)
    with torch.no_grad():
        accuracy = float((judge(held_out.images()).argmax(1) == held_out.labels).float().mean())
    assert accuracy >= 0.97 and accuracy == pytest.approx(judge.metadata["held_out_accuracy"], abs=1e-6)
