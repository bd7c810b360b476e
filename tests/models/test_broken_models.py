"""A broken model file is refused when it is read, before any work, by every command that takes
one: NaN or inf weights (a diverged run) and integer weights; exit 2, nothing written (issue 24,
item 4)."""

import pytest
import torch

from atu import checkpoint as ckpt
from atu.cli import main as atu_main
from tiny_gans import perturbed, save_pretrained, tiny_models


@pytest.fixture
def files(tmp_path):
    G, D = tiny_models(seed=0)
    good = save_pretrained(tmp_path / "good.safetensors", G, D)
    adapted = save_pretrained(tmp_path / "adapted.safetensors", perturbed(G, 0.01, seed=1), D)
    broken = {}
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        bad_G = perturbed(G, 0.0, seed=2)
        with torch.no_grad():
            next(bad_G.parameters()).view(-1)[3] = value
        broken[name] = save_pretrained(tmp_path / f"{name}.safetensors", bad_G, D)
    state = {k: (v.to(torch.int32) if k.endswith("weight") else v) for k, v in G.state_dict().items()}
    broken["int32"] = ckpt.save(
        tmp_path / "int32.safetensors",
        kind="stylegan2",
        config={"generator": G.config(), "discriminator": D.config()},
        state_dicts={"g_ema": state, "d": D.state_dict()},
    )
    return good, adapted, broken


@pytest.mark.parametrize(
    "kind, message", [("nan", "non-finite value"), ("inf", "non-finite value"), ("int32", "must be floating point")]
)
def test_loading_names_the_section_and_tensor(files, kind, message):
    _, _, broken = files
    with pytest.raises(ckpt.CheckpointError, match=f"\\[g_ema\\]: .*{message}"):
        ckpt.load(broken[kind])


@pytest.mark.parametrize("kind", ["nan", "int32"])
def test_every_command_refuses_a_broken_model_before_any_work(files, tmp_path, capsys, kind):
    good, adapted, broken = files
    bad = broken[kind]
    runs = {
        "extrapolate --gen": ["extrapolate", "--gen", bad, "--adapted", adapted, "--out", tmp_path / "x1"],
        "extrapolate --adapted": ["extrapolate", "--gen", good, "--adapted", bad, "--out", tmp_path / "x2"],
        "feedback --draw-only": (
            ["feedback", "--gen", bad, "--n", "4", "--draw-only", "--out"] + [tmp_path / "bank.safetensors"]
        ),
    }
    for what, argv in runs.items():
        code = atu_main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2, (what, err)
        assert str(bad) in err, what
    assert not any(
        p.name
        not in {"good.safetensors", "adapted.safetensors", "nan.safetensors", "inf.safetensors", "int32.safetensors"}
        for p in tmp_path.iterdir()
    )


def test_feedback_drawn_from_another_generator_or_resolution_is_refused_before_any_work(files, tmp_path, capsys):
    good, adapted, _ = files
    bank = tmp_path / "bank.safetensors"
    assert atu_main(["feedback", "--gen", str(adapted), "--n", "6", "--draw-only", "--out", str(bank)]) == 0
    from atu.checkpoint.feedback_bundle import load_bundle, save_bundle

    bundle = load_bundle(bank)
    bundle.undesired[:2] = True  # marked by hand, as `atu label` would
    marked = tmp_path / "marked.safetensors"
    save_bundle(marked, bundle)
    capsys.readouterr()
    for command in (["adapt", "--k", "1", "--steps", "1"], ["latent-unlearn", "--steps", "1"]):
        out = tmp_path / command[0]
        code = atu_main([*command, "--gen", str(good), "--feedback", str(marked), "--out", str(out), "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"was drawn from {adapted}" in err and f"not from --gen {good}" in err, err
        assert not out.exists() or not any(out.rglob("*.safetensors"))
    # a 16-px bundle for a 32-px generator
    from atu.models import Discriminator, Generator, narrow_channels

    big = save_pretrained(
        tmp_path / "big.safetensors",
        Generator(32, style_dim=16, n_mlp=2, channels=narrow_channels(32, 8)),
        Discriminator(32, channels=narrow_channels(32, 8)),
    )
    bundle.metadata.pop("generator")  # no record of its generator: the resolution still tells
    unrecorded = tmp_path / "unrecorded.safetensors"
    save_bundle(unrecorded, bundle)
    code = atu_main(
        ["latent-unlearn", "--steps", "1", "--gen", str(big), "--feedback", str(unrecorded), "--out"]
        + [str(tmp_path / "lat32"), "--device", "cpu"]
    )
    assert code == 2 and "its images are 16×16 but the generator makes 32×32" in capsys.readouterr().err


def _overflowing_generator(G):
    """Finite weights whose mapping network overflows float32: every image is NaN."""
    bad = perturbed(G, 0.0, seed=3)
    with torch.no_grad():
        for i in range(1, bad.n_mlp + 1):
            bad.style[i].weight.fill_(1e38)
    assert all(bool(torch.isfinite(p).all()) for p in bad.parameters())
    return bad


def test_a_generator_or_judge_with_finite_weights_and_nan_outputs_is_refused_naming_it(files, tmp_path, capsys):
    """Before: `atu attack` reported such a generator as 0.0% feature before and after (a perfect
    removal), `atu evaluate` ended in a LinAlgError traceback."""
    from atu.classifiers import LeNet, save_classifier

    good, _, _ = files
    G, D = tiny_models(seed=0)
    nan_gen = save_pretrained(tmp_path / "nan_images.safetensors", _overflowing_generator(G), D)
    torch.manual_seed(1)
    judge = tmp_path / "judge.safetensors"
    save_classifier(judge, LeNet(num_classes=10, resolution=16).eval(), {})
    torch.manual_seed(1)
    overflowing = LeNet(num_classes=10, resolution=16).eval()
    with torch.no_grad():
        overflowing.head.weight.fill_(3e38)  # finite, but the logits overflow to infinity
    nan_judge = tmp_path / "nan_judge.safetensors"
    save_classifier(nan_judge, overflowing, {})

    attack = ["attack", "--classifier", str(judge), "--judge", str(judge), "--class", "1", "--n", "4", "--steps"] + [
        "1",
        "--device",
        "cpu",
    ]
    cases = {
        "attack, generator": (
            [*attack, "--gen", str(nan_gen), "--out", str(tmp_path / "a.json")],
            f"{nan_gen} [g_ema]: draws NaN or infinite pixels",
        ),
        "evaluate, generator": (
            (
                ["evaluate", "--gen", str(nan_gen), "--classifier", str(judge), "--class", "1", "--n-bank", "8"]
                + ["--n-fid", "8", "--device", "cpu", "--out", str(tmp_path / "e.json")]
            ),
            f"{nan_gen} [g_ema]: draws NaN or infinite pixels",
        ),
        "attack, judge": (
            (
                ["attack", "--classifier", str(judge), "--judge", str(nan_judge), "--class", "1", "--n", "4"]
                + ["--steps", "1", "--device", "cpu", "--gen", str(good), "--out", str(tmp_path / "b.json")]
            ),
            f"{nan_judge}: NaN or infinite outputs",
        ),
        "feedback, labeller": (
            (
                ["feedback", "--gen", str(good), "--classifier", str(nan_judge), "--class", "1", "--n", "4"]
                + ["--device", "cpu", "--out", str(tmp_path / "f.safetensors")]
            ),
            f"{nan_judge}: NaN or infinite outputs",
        ),
    }
    for what, (argv, message) in cases.items():
        assert atu_main(argv) == 2, what
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (what, err)
    assert not any((tmp_path / name).exists() for name in ("a.json", "e.json", "b.json", "f.safetensors"))


def test_a_bundle_whose_records_are_of_the_wrong_type_is_refused_by_every_stage(files, tmp_path, capsys):
    """Before: a generator recorded as a string, a sha256 as an integer or integer latents ended in
    six tracebacks across adapt, unlearn and latent-unlearn."""
    from atu.checkpoint.feedback_bundle import KIND, SECTION, load_bundle, save_bundle

    good, adapted, _ = files
    bank = tmp_path / "bank.safetensors"
    assert atu_main(["feedback", "--gen", str(good), "--n", "6", "--draw-only", "--out", str(bank)]) == 0
    bundle = load_bundle(bank)
    bundle.undesired[:2] = True
    variants = {}
    for name, record, message in (
        ("string", "a generator", "its generator record is a str, not an object"),
        ("int_sha", {"path": str(good), "sha256": 123}, "its generator sha256 '123' is not 64"),
    ):
        bundle.metadata["generator"] = record
        variants[name] = (save_bundle(tmp_path / f"{name}.safetensors", bundle), message)
    tensors = {
        "latents": bundle.latents.round().to(torch.int64),
        "images": bundle.images,
        "undesired": bundle.undesired.to(torch.uint8),
    }
    variants["int_latents"] = (
        ckpt.save(
            tmp_path / "int_latents.safetensors",
            kind=KIND,
            config={"style_dim": int(bundle.latents.shape[1]), "resolution": 16},
            state_dicts={SECTION: tensors},
            metadata={},
        ),
        "feedback bundle with torch.int64 latents",
    )
    capsys.readouterr()
    for name, (bundle_file, message) in variants.items():
        commands = {
            "adapt": ["adapt", "--k", "1", "--steps", "1"],
            "unlearn": ["unlearn", "--adapted", str(adapted), "--steps", "1"],
            "latent-unlearn": ["latent-unlearn", "--steps", "1"],
        }
        for command, argv in commands.items():
            out = tmp_path / f"{name}-{command}"
            code = atu_main(
                [*argv, "--gen", str(good), "--feedback", str(bundle_file), "--out", str(out), "--device", "cpu"]
            )
            err = capsys.readouterr().err
            assert code == 2 and message in err and "Traceback" not in err, (name, command, err)
            assert not out.exists() or not any(out.rglob("*.safetensors")), (name, command)
