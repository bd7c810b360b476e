"""atu.feedback and `atu feedback`: the bundle format, the seeded bank, labelling by classifier and by
a person's marks, and the command's refusals. Tiny models only (16 px, width 8, style_dim 16)."""

import hashlib
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atu import assets
from atu import checkpoint as ckpt
from atu.classifiers import LeNet, load_classifier, predict, save_classifier
from atu.cli import main as atu_main
from atu.feedback import (
    FeedbackBundle,
    MarksError,
    check_marks,
    draw_bank,
    images_to_uint8,
    label_with_classifier,
    label_with_marks,
    load_bundle,
    read_marks,
    save_bundle,
    uint8_to_images,
)
from atu.models import Discriminator, Generator, narrow_channels
from tiny_classifiers import half_in_class_1
from tiny_gans import save_pretrained

SIZE, STYLE_DIM = 16, 16
CHANNELS = narrow_channels(SIZE, 8)
# The bank every CLI test draws: `--n 12 --seed 1`.
CLI_N, CLI_SEED = 12, 1
LABELS = ["round", "spiky", "never"]


def _tiny_generator() -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Generator(SIZE, STYLE_DIM, n_mlp=2, channels=CHANNELS).eval()


@pytest.fixture(scope="module")
def G():
    return _tiny_generator()


@pytest.fixture(scope="module")
def gen_file(tmp_path_factory, G):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        D = Discriminator(SIZE, channels=CHANNELS)
    path = tmp_path_factory.mktemp("gen") / "tiny_gen.safetensors"
    save_pretrained(path, G, D)
    return path


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory, G):
    """A LeNet whose answer on the CLI bank is known by construction: class 2 ("never") is never
    predicted, classes 0 and 1 split the 12 samples 6 / 6 (the threshold lies between the 6th and
    7th of the sorted scores)."""
    model = half_in_class_1(draw_bank(G, CLI_N, CLI_SEED).images, SIZE)
    path = tmp_path_factory.mktemp("cls") / "tiny_classifier.safetensors"
    save_classifier(path, model, {"label_names": LABELS, "held_out_accuracy": 0.5})
    return path


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the bundle format --------------------------------------------------------------------------------


def test_bundle_round_trip_is_bit_exact(tmp_path, G):
    bundle = label_with_marks(draw_bank(G, 5, seed=4), [1, 3])
    path = save_bundle(tmp_path / "fb.safetensors", bundle)
    back = load_bundle(path)
    assert (
        back.latents.dtype == torch.float32 and back.images.dtype == torch.uint8 and back.undesired.dtype == torch.bool
    )
    assert torch.equal(back.latents, bundle.latents) and torch.equal(back.images, bundle.images)
    assert back.undesired.tolist() == [False, True, False, True, False]
    assert back.metadata == json.loads(json.dumps({**bundle.metadata, "n": 5, "n_undesired": 2}))
    assert torch.equal(back.negatives(), uint8_to_images(bundle.images[[1, 3]]))


def test_inconsistent_bundles_are_refused(tmp_path):
    latents, images = torch.zeros(3, STYLE_DIM), torch.zeros(3, 3, SIZE, SIZE, dtype=torch.uint8)
    with pytest.raises(ValueError, match="count the same"):
        FeedbackBundle(latents, images[:2], torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="count the same"):
        FeedbackBundle(latents, images, torch.zeros(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="uint8"):
        FeedbackBundle(latents, images.float(), torch.zeros(3, dtype=torch.bool))
    # files: a bundle whose tensors disagree, one that lacks a tensor, and something else entirely
    ckpt.save(
        tmp_path / "bad.safetensors",
        kind="feedback",
        config={},
        state_dicts={
            "feedback": {"latents": latents, "images": images, "undesired": torch.zeros(2, dtype=torch.uint8)}
        },
    )
    with pytest.raises(ckpt.CheckpointError, match="inconsistent feedback bundle"):
        load_bundle(tmp_path / "bad.safetensors")
    ckpt.save(
        tmp_path / "short.safetensors",
        kind="feedback",
        config={},
        state_dicts={"feedback": {"latents": latents, "undesired": torch.zeros(3, dtype=torch.uint8)}},
    )
    with pytest.raises(ckpt.CheckpointError, match="lacks \\['images'\\]"):
        load_bundle(tmp_path / "short.safetensors")
    save_classifier(tmp_path / "c.safetensors", LeNet(num_classes=2, channels=(4, 4), hidden=8, resolution=SIZE))
    with pytest.raises(ckpt.CheckpointError, match="not a feedback bundle"):
        load_bundle(tmp_path / "c.safetensors")


def test_require_both_kinds():
    bundle = FeedbackBundle(
        torch.zeros(4, STYLE_DIM), torch.zeros(4, 3, SIZE, SIZE, dtype=torch.uint8), torch.zeros(4, dtype=torch.bool)
    )
    with pytest.raises(ValueError, match="no sample is marked undesired out of 4"):
        bundle.require_both_kinds()
    with pytest.raises(ValueError, match="all 4 samples are marked undesired"):
        label_with_marks(bundle, range(4)).require_both_kinds()
    label_with_marks(bundle, [0]).require_both_kinds()


# ---- the bank -----------------------------------------------------------------------------------------


def test_bank_latents_are_the_z_of_its_images(G):
    bank = draw_bank(G, 7, seed=3, batch_size=3)
    assert len(bank) == 7 and bank.n_undesired == 0 and bank.metadata["labeller"] == {"kind": "none"}
    # z and the noise maps are Generator.sample_inputs': regenerate the images from the stored z
    # plus that noise, in one batch instead of three
    z, noise = G.sample_inputs(3, 0, 7)
    assert torch.equal(bank.latents, z)
    with torch.no_grad():
        again = images_to_uint8(G([bank.latents], noise=noise)[0])
    assert (again.int() - bank.images.int()).abs().max() <= 1  # batching may move a rounding
    assert (again != bank.images).float().mean() < 0.01
    # and the bank is exactly what Generator.sample gives for the same settings
    assert torch.equal(bank.images, images_to_uint8(G.sample(7, seed=3, batch_size=3)))
    assert bank.metadata["sampling"] == {
        "method": "atu.models.Generator.sample",
        "n": 7,
        "seed": 3,
        "truncation": 1.0,
        "batch_size": 3,
    }
    assert bank.metadata["generator"] == {"config": G.config()}


def test_bank_is_determined_by_its_seed(G):
    a, b, c = draw_bank(G, 4, seed=5), draw_bank(G, 4, seed=5), draw_bank(G, 4, seed=6)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.images, b.images)
    assert not torch.equal(a.latents, c.latents)
    truncated = draw_bank(G, 4, seed=5, truncation=0.5)
    assert torch.equal(truncated.latents, a.latents)  # truncation acts on w, not z
    assert torch.equal(truncated.images, images_to_uint8(G.sample(4, seed=5, truncation=0.5)))
    assert not torch.equal(truncated.images, a.images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be a positive int"),
        ({"n": 2.0}, "n must be a positive int"),
        ({"n": 2, "truncation": 0.0}, "truncation"),
        ({"n": 2, "truncation": 1.5}, "truncation"),
    ],
)
def test_bank_refuses_bad_settings(G, kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_bank(G, **kwargs)


def test_bank_and_labels_on_a_device(device, G):
    """On CUDA the bank holds the same z and, up to float rounding, the same pictures."""
    on_cpu = draw_bank(G, 6, seed=2)
    bank = draw_bank(_tiny_generator().to(device), 6, seed=2)
    assert bank.images.device.type == "cpu" and torch.equal(bank.latents, on_cpu.latents)
    assert (bank.images.int() - on_cpu.images.int()).abs().max() <= 1
    levels = _brightness(bank.images).sort().values
    judge = BrightnessJudge([float(levels[2] + levels[3]) / 2]).to(device)
    assert label_with_classifier(bank, judge, 1).n_undesired == 3


# ---- labelling by a classifier ------------------------------------------------------------------------


class BrightnessJudge(nn.Module):
    """A stand-in classifier with a known answer: the class is how many thresholds an image's mean
    brightness exceeds."""

    def __init__(self, thresholds: list[float]):
        super().__init__()
        self.register_buffer("thresholds", torch.tensor(thresholds))
        self.num_classes = len(thresholds) + 1
        self.unit = nn.Parameter(torch.ones(()))  # predict_proba finds the device through a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        classes = torch.bucketize(x.mean((1, 2, 3)), self.thresholds)
        return F.one_hot(classes, self.num_classes).float() * 10 * self.unit


def _brightness(images_uint8: torch.Tensor) -> torch.Tensor:
    return (images_uint8.double() / 127.5 - 1).mean((1, 2, 3))


def test_classifier_labels_equal_a_direct_count(G):
    bank = draw_bank(G, 30, seed=7)
    levels = _brightness(bank.images).sort().values
    thresholds = [float(levels[9] + levels[10]) / 2, float(levels[19] + levels[20]) / 2]
    labelled = label_with_classifier(bank, BrightnessJudge(thresholds), 1, batch_size=7)
    # the oracle: the middle third by brightness, computed here from the bytes in float64
    expected = (_brightness(bank.images) > thresholds[0]) & (_brightness(bank.images) <= thresholds[1])
    assert torch.equal(labelled.undesired, expected) and labelled.n_undesired == 10
    assert torch.equal(labelled.images, bank.images) and torch.equal(labelled.latents, bank.latents)
    labeller = labelled.metadata["labeller"]
    assert labeller["kind"] == "classifier" and labeller["undesired_class"] == 1
    assert labeller["predicted_counts"] == {"0": 10, "1": 10, "2": 10}
    assert labelled.metadata["counts"] == {"n": 30, "undesired": 10, "desired": 20}
    assert labelled.metadata["sampling"] == bank.metadata["sampling"]
    assert bank.n_undesired == 0  # the bank itself is not changed


def test_a_threshold_marks_every_sample_with_that_probability_of_the_class(G):
    bank = draw_bank(G, 40, seed=8)
    judge = _random_lenet()
    # the oracle: softmax in float64 of the classifier's logits on the stored bytes
    with torch.no_grad():
        p = torch.softmax(judge(uint8_to_images(bank.images)).double(), 1)[:, 1]
    ranked = p.sort().values
    cut = float(ranked[28] + ranked[29]) / 2  # 11 of the 40 samples have p(class 1) above this
    assert ranked[29] - ranked[28] > 1e-6  # far from the cut in float32 too
    labelled = label_with_classifier(bank, judge, 1, threshold=cut, batch_size=9)
    assert torch.equal(labelled.undesired, p >= cut) and labelled.n_undesired == 11
    argmax = label_with_classifier(bank, judge, 1)
    assert torch.equal(argmax.undesired, predict(judge, uint8_to_images(bank.images)) == 1)
    assert labelled.metadata["labeller"]["threshold"] == cut and argmax.metadata["labeller"]["threshold"] is None
    assert labelled.metadata["labeller"]["rule"] == f"p(class) >= {cut:g}"
    assert argmax.metadata["labeller"]["rule"] == "predicted class"
    # a lower threshold marks a superset
    lower = label_with_classifier(bank, judge, 1, threshold=cut / 2)
    assert bool((lower.undesired | labelled.undesired).eq(lower.undesired).all()) and lower.n_undesired > 11
    for bad in (0, 1, 1.5, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            label_with_classifier(bank, judge, 1, threshold=bad)


def _random_lenet() -> LeNet:
    """A small seeded LeNet with random weights: p(class 1) varies smoothly over a bank."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return LeNet(num_classes=3, channels=(4, 4), hidden=8, resolution=SIZE).eval()


def test_classifier_class_must_exist(G):
    bank = draw_bank(G, 2, seed=0)
    for bad in (3, -1, "spiky", True):
        with pytest.raises(ValueError, match="not one of the classifier's 3 classes: 0, 1, 2"):
            label_with_classifier(bank, BrightnessJudge([-0.5, 0.5]), bad)


# ---- labelling by a person's marks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text",
    [
        ("marks.json", json.dumps({"undesired": [7, 2], "tool": "a labelling page"})),
        ("marks.json", "[7, 2]"),
        ("marks.txt", "# samples with a hat\n7\n\n  2   # barely\n"),
        ("marks", "7\n2"),
    ],
)
def test_marks_files(tmp_path, G, name, text):
    (tmp_path / name).write_text(text)
    marks = read_marks(tmp_path / name)
    assert marks == [7, 2]
    labelled = label_with_marks(draw_bank(G, 10, seed=0), marks, marks_file=tmp_path / name)
    assert torch.nonzero(labelled.undesired).flatten().tolist() == [2, 7]
    assert labelled.metadata["labeller"]["kind"] == "marks" and labelled.metadata["labeller"]["n_marked"] == 2
    assert labelled.metadata["labeller"]["sha256"] == _sha256(tmp_path / name)


@pytest.mark.parametrize(
    "marks, message",
    [
        ([1, 10], "outside the bank of 10 samples (valid: 0..9): #1: 10"),
        ([-1, 3], "#0: -1"),
        ([2, 5, 2, 2], "repeated: 2 (#0, #2, #3)"),
        (["3"], "not integer indices: #0: '3'"),
        ([1.5], "#0: 1.5"),
        ([4.0], "#0: 4.0"),
        ([True], "#0: True"),
        (
            [None, 11, 1, 1],
            "not integer indices: #0: None; outside the bank of 10 samples (valid: 0..9): #1: 11; repeated: 1",
        ),
    ],
)
def test_bad_marks_are_named(marks, message):
    with pytest.raises(MarksError) as caught:
        check_marks(marks, 10)
    assert message in str(caught.value)


def test_the_first_n_negatives_are_kept_with_every_positive(G):
    from atu.feedback.labelling import first_negatives

    bank = draw_bank(G, 12, seed=0)
    pattern = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0], dtype=torch.bool)
    marked = label_with_marks(bank, torch.nonzero(pattern).flatten())
    cut = first_negatives(marked, 3)
    kept = [i for i in range(12) if not pattern[i] or i in (1, 4, 5)]  # undesired at 1, 4, 5 come first
    assert torch.equal(cut.latents, bank.latents[kept]) and torch.equal(cut.images, bank.images[kept])
    assert torch.equal(cut.undesired, pattern[kept]) and cut.n_undesired == 3 and len(cut) == 10
    assert cut.metadata["negatives"] == {"n": 3, "within_first": 6, "left_out": 2}
    assert cut.metadata["counts"] == {"n": 10, "undesired": 3, "desired": 7}
    assert cut.metadata["labeller"] == marked.metadata["labeller"]
    assert torch.equal(first_negatives(marked, 5).undesired, pattern)  # all of them: the bank unchanged
    with pytest.raises(ValueError, match="6 negatives asked for, but the bank holds 5 undesired samples of 12"):
        first_negatives(marked, 6)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="negatives must be a whole number >= 1"):
            first_negatives(marked, bad)


def test_marks_accept_tensors_and_come_back_sorted():
    assert check_marks(torch.tensor([9, 0, 4]), 10) == [0, 4, 9]
    assert check_marks([], 10) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("3\nseven\n4\nx # y\n", "not an index: line 2: 'seven', line 4: 'x'"),
        ('{"undesired": [1,', "not valid JSON (line 1"),
        ('{"marks": [1]}', 'needs the key "undesired"'),
        ('{"undesired": 3}', "must be a JSON list"),
    ],
)
def test_bad_marks_files_are_named(tmp_path, text, message):
    (tmp_path / "m").write_text(text)
    with pytest.raises(MarksError) as caught:
        read_marks(tmp_path / "m")
    assert message in str(caught.value)
    (tmp_path / "binary").write_bytes(b"\x80\x81\xff")
    with pytest.raises(MarksError, match="not a text file"):
        read_marks(tmp_path / "binary")
    with pytest.raises(MarksError, match="does not exist"):
        read_marks(tmp_path / "missing.json")


# ---- the command --------------------------------------------------------------------------------------


def _feedback(*args) -> int:
    try:
        return atu_main(["feedback", *map(str, args)])
    except SystemExit as exit_:  # refused by the argument parser itself (a count out of range)
        return exit_.code


def _fresh(gen_file):
    return ["--gen", gen_file, "--n", CLI_N, "--seed", CLI_SEED, "--device", "cpu"]


def test_cli_end_to_end_with_a_classifier(tmp_path, capsys, G, gen_file, classifier_file):
    out = tmp_path / "fb.safetensors"
    assert _feedback(*_fresh(gen_file), "--classifier", classifier_file, "--class", "spiky", "--out", out) == 0
    printed = capsys.readouterr().out
    assert "12 samples from tiny_gen.safetensors (seed 1" in printed and "6 undesired (50.0%), 6 desired" in printed
    assert f"wrote {out}" in printed
    bundle = load_bundle(out)
    bank = draw_bank(G, CLI_N, CLI_SEED)
    assert torch.equal(bundle.latents, bank.latents) and torch.equal(bundle.images, bank.images)
    judged = predict(load_classifier(classifier_file), uint8_to_images(bundle.images))
    assert torch.equal(bundle.undesired, judged == 1) and bundle.n_undesired == 6
    meta = bundle.metadata
    assert meta["generator"]["sha256"] == _sha256(gen_file) and meta["generator"]["path"] == str(gen_file.resolve())
    assert meta["labeller"]["sha256"] == _sha256(classifier_file)
    assert (meta["labeller"]["undesired_class"], meta["labeller"]["undesired_label"]) == (1, "spiky")
    assert meta["labeller"]["held_out_accuracy"] == 0.5
    assert meta["sampling"]["n"] == CLI_N and meta["sampling"]["seed"] == CLI_SEED
    assert meta["counts"] == {"n": 12, "undesired": 6, "desired": 6} and "command" in meta["provenance"]


def test_cli_threshold_marks_by_probability(tmp_path, capsys, gen_file, classifier_file):
    # the fixture's classifier never predicts class 2, so p(spiky) >= 0.5 is its argmax: the same 6
    out = tmp_path / "fb.safetensors"
    assert (
        _feedback(
            *_fresh(gen_file), "--classifier", classifier_file, "--class", "spiky", "--threshold", "0.5", "--out", out
        )
        == 0
    )
    assert "(class spiky: p(class) >= 0.5): 6 undesired" in capsys.readouterr().out
    bundle = load_bundle(out)
    with torch.no_grad():
        p = torch.softmax(load_classifier(classifier_file)(uint8_to_images(bundle.images)).double(), 1)[:, 1]
    assert torch.equal(bundle.undesired, p >= 0.5) and bundle.metadata["labeller"]["threshold"] == 0.5


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys, gen_file, classifier_file):
    out = tmp_path / "fb.safetensors"
    out.write_bytes(b"keep me")
    args = [*_fresh(gen_file), "--classifier", classifier_file, "--class", "1", "--out", out]
    assert _feedback(*args) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert _feedback(*args, "--force") == 0
    assert load_bundle(out).n_undesired == 6


def test_cli_bank_then_marks_then_relabel(tmp_path, capsys, G, gen_file, classifier_file):
    bank_file = tmp_path / "bank.safetensors"
    assert _feedback(*_fresh(gen_file), "--draw-only", "--out", bank_file) == 0
    bank = load_bundle(bank_file)
    assert bank.n_undesired == 0 and bank.metadata["labeller"]["kind"] == "none"
    assert torch.equal(bank.images, draw_bank(G, CLI_N, CLI_SEED).images)

    marks = tmp_path / "marks.txt"
    marks.write_text("# the person's picks\n4\n0\n11\n")
    out = tmp_path / "fb.safetensors"
    assert _feedback("--bank", bank_file, "--marks", marks, "--out", out) == 0
    assert "3 undesired" in capsys.readouterr().out
    bundle = load_bundle(out)
    assert torch.equal(bundle.latents, bank.latents) and torch.equal(bundle.images, bank.images)
    assert torch.nonzero(bundle.undesired).flatten().tolist() == [0, 4, 11]
    assert bundle.metadata["bank_file"]["sha256"] == _sha256(bank_file)
    assert bundle.metadata["sampling"] == bank.metadata["sampling"]
    assert bundle.metadata["labeller"]["sha256"] == _sha256(marks)

    # the same bank judged by the classifier instead: as if drawn and labelled in one go
    relabelled = tmp_path / "fb_classifier.safetensors"
    assert _feedback("--bank", bank_file, "--classifier", classifier_file, "--class", "1", "--out", relabelled) == 0
    judged = predict(load_classifier(classifier_file), uint8_to_images(bank.images))
    assert torch.equal(load_bundle(relabelled).undesired, judged == 1)


def test_cli_writes_nothing_without_negatives_or_positives(tmp_path, capsys, gen_file, classifier_file):
    out = tmp_path / "fb.safetensors"
    # the input leaves nothing to unlearn: exit 2, reported once (before: exit 1, "atu feedback:" twice)
    assert _feedback(*_fresh(gen_file), "--classifier", classifier_file, "--class", "never", "--out", out) == 2
    err = capsys.readouterr().err
    assert "no sample is marked undesired out of 12" in err and err.count("atu feedback:") == 1 and not out.exists()

    bank_file = tmp_path / "bank.safetensors"
    assert _feedback(*_fresh(gen_file), "--draw-only", "--out", bank_file) == 0
    everything = tmp_path / "all.json"
    everything.write_text(json.dumps(list(range(CLI_N))))
    assert _feedback("--bank", bank_file, "--marks", everything, "--out", out) == 2
    err = capsys.readouterr().err
    assert "all 12 samples are marked undesired" in err and err.count("atu feedback:") == 1 and not out.exists()


def _bad_input_cases(tmp_path, gen_file, classifier_file):
    """(arguments, expected words in the error) for every refusal that happens before drawing."""
    fresh = _fresh(gen_file)
    judge = ["--classifier", classifier_file, "--class", "1"]
    (tmp_path / "far.json").write_text("[3, 12, 3]")
    (tmp_path / "ok.txt").write_text("3\n")
    (tmp_path / "marks.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    bank_file = tmp_path / "bank.safetensors"
    save_bundle(bank_file, draw_bank(_tiny_generator(), 5, seed=0))
    out = tmp_path / "out.safetensors"
    return [
        (["--gen", tmp_path / "missing.safetensors", *judge, "--out", out], "--gen"),
        (["--gen", tmp_path, *judge, "--out", out], "is not a file"),
        (["--gen", classifier_file, *judge, "--out", out], "no section 'g_ema'"),
        ([*fresh, "--classifier", gen_file, "--class", "1", "--out", out], "not a classifier"),
        (
            [*fresh, "--classifier", classifier_file, "--class", "3", "--out", out],
            "--class: class '3' is not one of the classifier's 3 classes: 0 (round), 1 (spiky), 2 (never)",
        ),
        ([*fresh, "--classifier", classifier_file, "--class", "hat", "--out", out], "class 'hat' is not one of"),
        (
            ["--gen", gen_file, "--n", "0", *judge, "--out", out],
            "argument --n: must be an integer from 1 to 10,000,000, got 0",
        ),
        ([*fresh, "--truncation", "0", *judge, "--out", out], "--truncation must be in (0, 1]"),
        ([*fresh, "--batch-size", "0", *judge, "--out", out], "argument --batch-size: must be an integer from 1"),
        ([*fresh, *judge, "--marks", tmp_path / "ok.txt", "--out", out], "exactly one of --class C"),
        ([*fresh, "--out", out], "exactly one of --class C"),
        ([*fresh, "--classifier", classifier_file, "--draw-only", "--out", out], "--classifier goes with --class"),
        ([*fresh, "--threshold", "0.2", "--marks", tmp_path / "ok.txt", "--out", out], "--threshold goes with --class"),
        ([*fresh, *judge, "--threshold", "1", "--out", out], "--threshold: threshold must be a probability strictly"),
        ([*fresh, *judge, "--threshold", "0", "--out", out], "strictly between 0 and 1"),
        (
            [*fresh, "--marks", tmp_path / "far.json", "--out", out],
            "outside the bank of 12 samples (valid: 0..11): #1: 12; repeated: 3 (#0, #2)",
        ),
        (["--bank", bank_file, "--marks", tmp_path / "far.json", "--out", out], "outside the bank of 5 samples"),
        ([*fresh, "--marks", tmp_path / "marks.png", "--out", out], "marks.png: not a text file"),
        (
            ["--bank", bank_file, "--n", "5", "--seed", "2", "--marks", tmp_path / "ok.txt", "--out", out],
            "--n, --seed describe drawing new samples",
        ),
        (["--bank", bank_file, "--draw-only", "--out", out], "nothing to draw"),
        (["--bank", tmp_path / "nope.safetensors", "--marks", tmp_path / "ok.txt", "--out", out], "--bank"),
        (["--bank", gen_file, "--marks", tmp_path / "ok.txt", "--out", out], "not a feedback bundle"),
        ([*fresh, *judge, "--out", tmp_path / "fb.pt"], "a .safetensors file"),
        ([*fresh, *judge, "--out", gen_file, "--force"], "is the --gen input"),
    ]


def test_cli_refuses_bad_input_before_drawing(tmp_path, capsys, gen_file, classifier_file, monkeypatch):
    # drawing is what the checks must precede: make it fail loudly if a refusal reaches it
    def no_drawing(*args, **kwargs):
        raise AssertionError("drew samples despite bad input")

    monkeypatch.setattr("atu.commands.feedback.draw_bank", no_drawing)
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in _bad_input_cases(tmp_path, gen_file, classifier_file):
        listing = sorted(p.name for p in tmp_path.iterdir())
        assert _feedback(*args) == 2, args
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert err.strip().splitlines()[-1].startswith("atu feedback: error:")
        assert sorted(p.name for p in tmp_path.iterdir()) == listing, args  # nothing written
    assert before == []


def test_cli_default_models_are_the_shipped_ones(tmp_path, capsys, monkeypatch, classifier_file):
    monkeypatch.setattr(assets, "_HERE", tmp_path)  # a package that ships nothing
    assert _feedback("--class", "1", "--n", "3", "--out", tmp_path / "fb.safetensors") == 2
    err = capsys.readouterr().err
    assert "no --gen given and the default is missing" in err and assets.default_set().generator in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cli_refuses_cuda_without_a_gpu(tmp_path, capsys, gen_file, classifier_file):
    assert (
        _feedback(
            *_fresh(gen_file)[:-2],
            "--device",
            "cuda",
            "--classifier",
            classifier_file,
            "--class",
            "1",
            "--out",
            tmp_path / "fb.safetensors",
        )
        == 2
    )
    assert "no CUDA device" in capsys.readouterr().err


def test_a_file_of_one_index_repeated_gives_a_short_error(tmp_path, capsys, gen_file):
    """Before: a 400 KB file of one repeated index gave a 1.7 MB error line."""
    (tmp_path / "repeats.txt").write_text("3\n" * 200_000)
    assert _feedback(*_fresh(gen_file), "--marks", tmp_path / "repeats.txt", "--out", tmp_path / "f.safetensors") == 2
    err = capsys.readouterr().err
    assert "repeated: 3 (#0, #1, #2, #3, #4, #5, #6, #7 and 199992 more times)" in err and len(err) < 1000


def test_the_command_marks_by_a_measured_feature_with_its_threshold_over_the_real_data(
    gen_file, G, tmp_path, monkeypatch, capsys
):
    from atu.classifiers.judges import MeasureJudge
    from atu.data.morphometrics import measure

    monkeypatch.setenv("ATU_CACHE", str(tmp_path / "cache"))
    values = measure(uint8_to_images(draw_bank(G, 30, seed=2).images))
    for spec in ("area:top50", "area:bottom50", "thickness:top50", "thickness:bottom50"):  # one that splits the bank
        judge = MeasureJudge.over(spec, "digits", resolution=SIZE)
        expected = judge.feature.holds(values[judge.feature.measure], judge.threshold)
        if 0 < int(expected.sum()) < 30:
            break
    else:
        raise AssertionError("no measured feature splits the tiny generator's bank")
    out = tmp_path / "measured.safetensors"
    args = ["feedback", "--gen", str(gen_file), "--n", "30", "--seed", "2", "--device", "cpu"]
    assert atu_main([*args, "--feature", spec, "--feature-data", "digits", "--out", str(out)]) == 0
    written = load_bundle(out)
    assert torch.equal(written.undesired, expected)
    labeller = written.metadata["labeller"]
    assert {k: labeller[k] for k in ("kind", "feature", "threshold", "data")} == {
        "kind": "measure",
        "feature": spec,
        "threshold": judge.threshold,
        "data": "digits",
    }
    assert f"labelled by the measurement {spec}" in capsys.readouterr().out
    assert atu_main([*args, "--feature", spec, "--class", "1", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "exactly one of --class C" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()
