"""The redaction family (atu/stages/redaction.py, `atu unlearn --redact`): each D-loss term against its
formula in float64 on tiny models, the gradient D actually gets, the labeller's online marks, the
run's exact resume, and the input checks."""

import copy
import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from atu import checkpoint as ckpt
from atu.checkpoint.feedback_bundle import load_bundle, save_bundle
from atu.classifiers import LeNet
from atu.classifiers.judges import ClassJudge
from atu.cli import main as atu_main
from atu.feedback.labelling import label_with_classifier
from atu.gan.run import Schedule
from atu.gan.trainer import StyleGAN2Trainer
from atu.stages.redaction import MarkedFakesAsFakes, NegativesAsFakes, draw_seed
from atu.stages.unlearn import UnlearnConfig, unlearn
from tiny_classifiers import half_in_class_1
from tiny_gans import TRAIN, disc_bundle, killed_after_step

EVERY_2 = Schedule(log_every=1, sample_every=2, checkpoint_every=2)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _softplus64(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x) in float64, written out (not torch's softplus)."""
    x = x.double()
    return torch.where(x > 0, x + torch.log1p(torch.exp(-x)), torch.log1p(torch.exp(x)))


def test_the_negative_batch_depends_on_seed_and_step_only():
    negatives = torch.randn(7, 3, 4, 4)
    a, b = NegativesAsFakes(negatives, 0.1, seed=3), NegativesAsFakes(negatives, 0.1, seed=3)
    assert torch.equal(a.indices(5, 16), b.indices(5, 16))
    assert not torch.equal(a.indices(5, 16), a.indices(6, 16))
    assert not torch.equal(a.indices(5, 16), NegativesAsFakes(negatives, 0.1, seed=4).indices(5, 16))
    assert draw_seed(3, 5) != draw_seed(5, 3)
    idx = a.indices(0, 4000)
    assert idx.min() == 0 and idx.max() == 6  # with replacement over all of them


def test_negatives_as_fakes_is_w_times_the_mean_softplus_of_d_on_the_drawn_negatives(inputs):
    negatives = disc_bundle().negatives()
    hook = NegativesAsFakes(negatives, 0.3, seed=1)
    D = copy.deepcopy(inputs.D)
    fake = torch.zeros(4, 3, 16, 16)
    loss, logs = hook(D, fake, D(fake), step=7)
    drawn = negatives[hook.indices(7, 4)]
    D64 = copy.deepcopy(inputs.D).double()
    expected = 0.3 * _softplus64(D64(drawn.double())).mean().detach()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-7)
    assert logs["redact"] == pytest.approx(float(expected) / 0.3, rel=1e-5)


def test_d_gets_the_gradient_of_the_logistic_loss_plus_the_redaction_term(inputs):
    """One D step through the trainer: D's gradient against autograd in float64 of the whole loss on
    the same real, fake and negative batches."""
    G, D = copy.deepcopy(inputs.G), copy.deepcopy(inputs.D)
    D_before = copy.deepcopy(D).double()
    negatives = disc_bundle().negatives()
    inner = NegativesAsFakes(negatives, 0.5, seed=2)
    seen = {}

    def hook(D, fake, fake_pred, step):
        seen["fake"], seen["step"] = fake.detach().clone(), step
        return inner(D, fake, fake_pred, step)

    trainer = StyleGAN2Trainer(G, D, TRAIN, seed=0, d_loss_hook=hook)
    real = disc_bundle().positives()[:4]
    trainer.discriminator_step(real, regularize=False)
    neg = negatives[inner.indices(seen["step"], 4)]
    loss = (
        _softplus64(-D_before(real.double())).mean()
        + _softplus64(D_before(seen["fake"].double())).mean()
        + 0.5 * _softplus64(D_before(neg.double())).mean()
    )
    grads = torch.autograd.grad(loss, list(D_before.parameters()))
    for (name, p), g in zip(D.named_parameters(), grads):
        torch.testing.assert_close(p.grad.double(), g, rtol=1e-4, atol=1e-6, msg=name)


class _Fixed(nn.Module):
    """A 'classifier' whose class-2 probability is a known function of the image: its mean brightness."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # where prepare() reads the device from

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([torch.zeros_like(m), torch.zeros_like(m), 10 * m], 1)


def test_marked_fakes_count_again_as_fakes_with_the_labellers_rule():
    hook = MarkedFakesAsFakes(ClassJudge(_Fixed(), 2), 0.2)
    fake = torch.stack([torch.full((3, 4, 4), v) for v in (-0.5, 0.3, 0.8, -0.1)])  # class 2 for the bright ones
    pred = torch.tensor([[0.4], [-1.2], [2.0], [0.1]])
    loss, logs = hook(None, fake, pred, step=0)
    torch.testing.assert_close(loss.double(), 0.2 * _softplus64(torch.tensor([-1.2, 2.0])).mean(), rtol=1e-6, atol=0)
    assert logs["marked"] == 0.5
    # with a threshold P: marked when p(class 2) >= P (softmax of [0, 0, 10m])
    cautious = MarkedFakesAsFakes(ClassJudge(_Fixed(), 2, threshold=0.4), 0.2)
    p2 = torch.softmax(_Fixed()(fake), 1)[:, 2]
    assert torch.equal(cautious.marked(fake), p2 >= 0.4)
    nothing, logs = MarkedFakesAsFakes(ClassJudge(_Fixed(), 2), 0.2)(None, -fake.abs(), pred, step=0)
    assert nothing is None and logs == {"marked": 0.0, "redact": 0.0}


def _assert_resumes_bit_identically(run, tmp_path, monkeypatch):
    """run(out, resume) after a kill at step 3 and resumed ends with the same files, bit for bit, as
    run(out) straight through."""
    run(tmp_path / "straight", False)
    killed_after_step(monkeypatch, StyleGAN2Trainer, 3, lambda: run(tmp_path / "cut", False))
    run(tmp_path / "cut", True)
    for name in ("model.safetensors", "checkpoint.safetensors"):
        a, b = (
            ckpt.load_atu(tmp_path / "straight" / name).state_dicts,
            ckpt.load_atu(tmp_path / "cut" / name).state_dicts,
        )
        assert a.keys() == b.keys()
        for section in a:
            for k in a[section]:
                assert torch.equal(a[section][k], b[section][k]), f"{name} {section}/{k}"


def test_redaction_changes_the_run_and_resumes_bit_identically(inputs, tmp_path, monkeypatch):
    cfg = UnlearnConfig(gamma=0.0, redact=0.5, steps=5, train=TRAIN, seed=2)
    assert cfg.to_dict()["redact"] == 0.5 and "redact" not in UnlearnConfig().to_dict()
    plain = unlearn(
        inputs.gen,
        None,
        inputs.feedback,
        tmp_path / "plain",
        UnlearnConfig(gamma=0.0, steps=5, train=TRAIN, seed=2),
        schedule=EVERY_2,
        progress=False,
    )
    _assert_resumes_bit_identically(
        lambda out, resume: unlearn(
            inputs.gen, None, inputs.feedback, out, cfg, resume=resume, schedule=EVERY_2, progress=False
        ),
        tmp_path,
        monkeypatch,
    )
    d_of = lambda p: ckpt.load_atu(p).state_dicts["d"]  # noqa: E731
    straight = tmp_path / "straight" / "model.safetensors"
    assert any(not torch.equal(a, b) for a, b in zip(d_of(straight).values(), d_of(plain).values()))
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert all(r["redact"] > 0 for r in log)


@pytest.mark.parametrize("decoupled", [False, True], ids=["coupled", "decoupled"])
def test_repulsion_and_redaction_together_use_both_terms_and_resume_bit_identically(
    inputs, tmp_path, monkeypatch, decoupled
):
    """el2+redact: the repulsion's log and the redaction's both run every step, and a kill resumes exactly."""
    cfg = UnlearnConfig(
        kind="el2", gamma=50.0, alpha=1e-3, decoupled=decoupled, redact=0.5, steps=5, train=TRAIN, seed=3
    )
    _assert_resumes_bit_identically(
        lambda out, resume: unlearn(
            inputs.gen, inputs.adapted, inputs.feedback, out, cfg, resume=resume, schedule=EVERY_2, progress=False
        ),
        tmp_path,
        monkeypatch,
    )
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 5 and all(r["redact"] > 0 and r["repulsion"] > 0 for r in log)


@pytest.fixture(scope="module")
def labelled(inputs):
    """The disc bundle labelled by a classifier that marks exactly half of it, saved to a file (what
    `atu feedback` records)."""
    from atu.classifiers import save_classifier

    bank = load_bundle(inputs.feedback)
    classifier = half_in_class_1(bank.images, 16)
    path = save_classifier(inputs.root / "labeller.safetensors", classifier)
    bundle = label_with_classifier(bank, classifier, 1, classifier_file=path)
    assert bundle.n_undesired == len(bundle) // 2
    return SimpleNamespace(classifier=path, feedback=save_bundle(inputs.root / "labelled.safetensors", bundle))


def test_the_labeller_source_uses_the_feedbacks_classifier_and_resumes_bit_identically(
    inputs, labelled, tmp_path, monkeypatch
):
    bundle = load_bundle(labelled.feedback)
    cfg = UnlearnConfig(gamma=0.0, redact=0.5, redact_source="labeller", steps=5, train=TRAIN, seed=1)
    _assert_resumes_bit_identically(
        lambda out, resume: unlearn(
            inputs.gen,
            None,
            labelled.feedback,
            out,
            cfg,
            resume=resume,
            schedule=EVERY_2,
            progress=False,
            labeller=labelled.classifier,
        ),
        tmp_path,
        monkeypatch,
    )
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 5 and all(0 <= r["marked"] <= 1 and "redact" in r for r in log)
    run = json.loads((tmp_path / "straight" / "run.json").read_text())
    assert run["inputs"]["labeller"]["sha256"] == bundle.metadata["labeller"]["sha256"]


def test_redaction_input_errors_come_before_anything_is_written(inputs, labelled, tmp_path):
    cases = [
        (
            UnlearnConfig(gamma=0.0, redact=0.5, redact_source="labeller", steps=2, train=TRAIN),
            inputs.feedback,
            labelled.classifier,
            "labelled by an unknown labeller|not by a classifier",
        ),
        (
            UnlearnConfig(gamma=0.0, redact=0.5, redact_source="labeller", steps=2, train=TRAIN),
            labelled.feedback,
            None,
            "needs --labeller",
        ),
        (UnlearnConfig(gamma=10.0, steps=2, train=TRAIN), inputs.feedback, None, "only γ = 0"),
    ]
    for i, (cfg, feedback, labeller, message) in enumerate(cases):
        out = tmp_path / f"case{i}"
        with pytest.raises(ValueError, match=message):
            unlearn(inputs.gen, None, feedback, out, cfg, schedule=EVERY_2, progress=False, labeller=labeller)
        assert not out.exists() or not any(out.iterdir())
    other = tmp_path / "other.safetensors"
    torch.manual_seed(5)
    from atu.classifiers import save_classifier

    save_classifier(other, LeNet(num_classes=3, channels=(4, 4), hidden=8, resolution=16))
    with pytest.raises(ValueError, match="is not the classifier that labelled"):
        unlearn(
            inputs.gen,
            None,
            labelled.feedback,
            tmp_path / "wrong",
            UnlearnConfig(gamma=0.0, redact=0.5, redact_source="labeller", steps=2, train=TRAIN),
            schedule=EVERY_2,
            progress=False,
            labeller=other,
        )
    with pytest.raises(ValueError, match="redact must be"):
        UnlearnConfig(redact=-1.0)
    assert (
        atu_main(
            ["unlearn", "--gen", str(inputs.gen), "--feedback", str(inputs.feedback), "--gamma", "0"]
            + ["--redact", "nan", "--out", str(tmp_path / "cli")]
        )
        == 2
    )
    assert not (tmp_path / "cli").exists() or not any((tmp_path / "cli").iterdir())
