"""The commands under torchrun: 2 processes, gloo on CPU, tiny models, each against a one-process run.

- stage 2 (data parallel): the ranks' parameters are bit-identical, and the run equals a one-process
  run with the whole batch up to rounding (the strided shares keep D's minibatch-stddev groups);
  the averaged gradient of a plain linear model equals its gradient on the concatenated batch;
- evaluation: the same undesired counts exactly, the same FID to 1e-6 relative;
- stage 1: model_0 and model_1 (one per rank) bit-identical to the one-process run's, same folder.
Each case launches `python -m torch.distributed.run --standalone --nproc_per_node 2` in tmp_path (not
the source tree, whose atu_ext holds no build).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import atu
from atu import checkpoint as ckpt
from atu.checkpoint.feedback_bundle import save_bundle
from atu.classifiers import LeNet, save_classifier
from atu.cli import main as atu_main
from atu.gan.run import Schedule
from atu.gan.trainer import TrainConfig
from atu.models import Discriminator, Generator, narrow_channels
from atu.stages.unlearn import UnlearnConfig, unlearn
from atu.util import distributed
from tiny_gans import disc_bundle, perturbed, save_pretrained

WORLD = 2
TRAIN = TrainConfig(batch_size=8, d_reg_every=2, g_reg_every=2)  # 8 = 4·WORLD: stddev groups kept
SCHEDULE = Schedule(log_every=1, sample_every=2, checkpoint_every=2)

GLOO = torch.distributed.is_available() and torch.distributed.is_gloo_available()
pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(not GLOO, reason="torch.distributed with gloo is not available"),
]


def _torchrun(cwd: Path, args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(atu.__file__).parents[1])}
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"torchrun failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist_inputs")
    torch.manual_seed(0)
    ch = narrow_channels(16, 8)
    G, D = Generator(16, style_dim=16, n_mlp=2, channels=ch), Discriminator(16, channels=ch)
    adapted = [save_pretrained(root / f"adapted_{j}.safetensors", perturbed(G, 0.05, seed=10 + j), D) for j in range(2)]
    return SimpleNamespace(
        root=root,
        gen=save_pretrained(root / "gen.safetensors", G, D),
        G=G,
        adapted=adapted,
        feedback=save_bundle(root / "feedback.safetensors", disc_bundle(n=14)),
    )


def _tensors(path):
    c = ckpt.load_atu(path)
    return {f"{s}/{k}": v for s, sd in c.state_dicts.items() for k, v in sd.items()}


# ---- helpers, one process ----------------------------------------------------------------------------


def test_outside_torchrun_everything_is_the_one_process_no_op(monkeypatch):
    for var in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    assert not distributed.launched() and not distributed.active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.DataParallel.from_process_group() is None
    with distributed.session("cpu") as device:
        assert device == "cpu" and not distributed.active()
    assert distributed.sum_counts(7) == 7 and not distributed.any_rank(False)
    share = distributed.DataParallel(1, 2)
    assert share.share(torch.arange(8)).tolist() == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="batch_size 6 must be a multiple of the number of processes \\(4\\)"):
        distributed.DataParallel(0, 4).check_batch(6)


# ---- stage 2 -----------------------------------------------------------------------------------------------

DRIVER = """
import json, sys
import torch
from atu.util import distributed
from atu.gan.run import Schedule, TrainingRun
from atu.gan.trainer import TrainConfig
from atu.stages.unlearn import UnlearnConfig, unlearn

gen, adapted, feedback, out, dump, cfg_json, schedule_json = sys.argv[1:8]
resume = sys.argv[8:] == ["--resume"]
torch.set_num_threads(1)
raw = json.loads(cfg_json)
cfg = UnlearnConfig(**{**raw, "train": TrainConfig(**raw["train"])})
with distributed.session("cpu"):
    rank = distributed.rank()
    # gradient averaging on a plain model: rank r holds the rows r::2 of a fixed batch
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 5, generator=g), torch.randn(8, 3, generator=g)
    torch.manual_seed(1)
    linear = torch.nn.Linear(5, 3)
    ((linear(x[rank::2]) - y[rank::2]) ** 2).mean().backward()
    distributed.average_gradients(linear.parameters())
    dumped = {f"linear_grad/{n}": p.grad.clone() for n, p in linear.named_parameters()}

    save_model = TrainingRun.save_model
    def save_and_dump(self, *args, **kwargs):     # every rank's final state, to compare the ranks
        for section, module in (("g", self.trainer.G), ("d", self.trainer.D), ("g_ema", self.trainer.g_ema)):
            dumped.update({f"{section}/{n}": t.clone() for n, t in module.state_dict().items()})
        torch.save(dumped, f"{dump}/rank{rank}.pt")
        return save_model(self, *args, **kwargs)
    TrainingRun.save_model = save_and_dump
    unlearn(gen, adapted.split(","), feedback, out, cfg, schedule=Schedule(**json.loads(schedule_json)),
            progress=False, resume=resume)
"""


def _stage2_torchrun(root, inputs, out, dump, cfg, *extra):
    (root / "driver.py").write_text(DRIVER)
    _torchrun(
        root,
        [
            "driver.py",
            str(inputs.gen),
            ",".join(map(str, inputs.adapted)),
            str(inputs.feedback),
            str(out),
            str(dump),
            json.dumps(cfg.to_dict()),
            json.dumps(vars(SCHEDULE)),
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def stage2(inputs, tmp_path_factory):
    root = tmp_path_factory.mktemp("stage2")
    cfg = UnlearnConfig(steps=3, train=TRAIN, seed=2)
    _stage2_torchrun(root, inputs, root / "two", root, cfg)
    one = unlearn(inputs.gen, inputs.adapted, inputs.feedback, root / "one", cfg, schedule=SCHEDULE, progress=False)
    ranks = [torch.load(root / f"rank{r}.pt") for r in range(WORLD)]
    return SimpleNamespace(
        root=root, one=one, ranks=ranks, initial_g={k: v.clone() for k, v in inputs.G.state_dict().items()}
    )


def test_stage_2_ranks_hold_bit_identical_parameters(stage2):
    first, second = stage2.ranks
    assert first.keys() == second.keys() and any(k.startswith("g/") for k in first)
    for name in first:
        if not name.startswith("linear_grad/"):
            assert torch.equal(first[name], second[name]), name


def test_averaged_gradients_equal_the_gradient_of_the_concatenated_batch(stage2):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 5, generator=g), torch.randn(8, 3, generator=g)
    torch.manual_seed(1)
    linear = torch.nn.Linear(5, 3).double()
    ((linear(x.double()) - y.double()) ** 2).mean().backward()
    for rank in stage2.ranks:
        for n, p in linear.named_parameters():
            torch.testing.assert_close(rank[f"linear_grad/{n}"].double(), p.grad, rtol=1e-6, atol=1e-7)


def test_stage_2_on_two_ranks_equals_one_process_with_the_whole_batch(stage2):
    two, one = stage2.root / "two", stage2.root / "one"
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    got, want = _tensors(two / "checkpoint.safetensors"), _tensors(one / "checkpoint.safetensors")
    assert got.keys() == want.keys()
    compared = 0
    for name, t in want.items():
        if name.split("/")[0] in ("g", "d", "g_ema") and t.is_floating_point():
            # only the rounding differs (two half-batch means averaged vs one mean): measured 1.2e-7
            torch.testing.assert_close(got[name], t, rtol=1e-4, atol=1e-5, msg=name)
            compared += 1
    assert compared > 50
    g_moved = max(float((want[f"g/{k}"] - v).abs().max()) for k, v in stage2.initial_g.items())
    assert g_moved > 1e-3  # the runs did move G
    run = json.loads((two / "run.json").read_text())
    assert run["processes"] == WORLD
    log = [json.loads(line) for line in (two / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]  # one writer: each step once
    one_log = [json.loads(line) for line in (one / "log.jsonl").read_text().splitlines()]
    for a, b in zip(log, one_log):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6) for k in a)


@pytest.mark.slow
def test_stage_2_on_two_ranks_resumes_to_the_same_run(stage2, inputs, tmp_path):
    """3 steps straight (the fixture's run) = 2 steps, then --resume to 3, both on two ranks."""
    cut = tmp_path / "cut"
    _stage2_torchrun(tmp_path, inputs, cut, tmp_path, UnlearnConfig(steps=2, train=TRAIN, seed=2))
    _stage2_torchrun(tmp_path, inputs, cut, tmp_path, UnlearnConfig(steps=3, train=TRAIN, seed=2), "--resume")
    for name in ("checkpoint.safetensors", "model.safetensors"):
        got, want = _tensors(cut / name), _tensors(stage2.root / "two" / name)
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), (name, key)
    assert (cut / "log.jsonl").read_text().count("\n") == 3


# ---- evaluation ---------------------------------------------------------------------------------------------


def test_evaluation_sharded_over_two_ranks_gives_the_same_counts_and_fid(inputs, tmp_path):
    torch.manual_seed(8)  # a random judge that splits this generator's samples
    classifier = LeNet(num_classes=2, resolution=16).eval()
    clf = tmp_path / "c.safetensors"
    save_classifier(clf, classifier, {})
    c = 1
    # 600 bank samples = 3 batches of 256, 150 FID samples = 3 batches of 64: both ranks work
    args = (
        ["evaluate", "--gen", str(inputs.gen), "--classifier", str(clf), "--class", str(c), "--model"]
        + [f"a={inputs.adapted[0]}", "--retrained", str(inputs.adapted[1]), "--n-bank", "600", "--n-fid", "150"]
        + ["--seed", "1", "--device", "cpu"]
    )
    assert atu_main([*args, "--out", str(tmp_path / "one.json")]) == 0
    _torchrun(tmp_path, ["-m", "atu.cli", *args, "--out", str(tmp_path / "two.json")])
    one, two = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert two["provenance"]["processes"] == WORLD
    for a, b in [(one["pretrained"], two["pretrained"]), (one["methods"]["a"], two["methods"]["a"])]:
        assert a["n_undesired"] == b["n_undesired"]
        assert b["fid"] == pytest.approx(a["fid"], rel=1e-6) and b["ret_fid"] == pytest.approx(a["ret_fid"], rel=1e-6)
        # KID and P/R from the features gathered in sample order: the same as in one process
        assert b["kid"] == pytest.approx(a["kid"], rel=1e-6, abs=1e-12)
        assert (b["precision"], b["recall"]) == pytest.approx((a["precision"], a["recall"]))
    assert one["methods"]["a"]["pul"] == two["methods"]["a"]["pul"]
    assert 0 < one["pretrained"]["n_undesired"] < 600


# ---- stage 1 ----------------------------------------------------------------------------------------------


def test_stage_1_shares_the_k_models_over_the_ranks_with_the_same_folder_and_models(inputs, tmp_path):
    def args(out):
        return (
            ["adapt", "--gen", str(inputs.gen), "--feedback", str(inputs.feedback), "--out", str(out), "--k"]
            + ["2", "--steps", "2", "--fisher-samples", "3", "--batch", "4", "--seed", "5", "--device", "cpu"]
            + ["--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2"]
        )

    assert atu_main(args(tmp_path / "one")) == 0
    _torchrun(tmp_path, ["-m", "atu.cli", *args(tmp_path / "two")])
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(tmp_path / "two") == files(tmp_path / "one")
    for j in range(2):
        for name in ("model.safetensors", "checkpoint.safetensors", "fisher.safetensors"):
            got, want = (
                _tensors(tmp_path / "two" / f"model_{j}" / name),
                _tensors(tmp_path / "one" / f"model_{j}" / name),
            )
            assert got.keys() == want.keys()
            for key in want:
                assert torch.equal(got[key], want[key]), (j, name, key)


def test_a_whole_study_refuses_several_processes(monkeypatch):
    from atu.commands.options import UsageError
    from atu.commands.run import execute

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(UsageError, match="under torchrun use the stage commands") as err:
        execute(None, SimpleNamespace(device=None), "atu run")
    assert err.value.exit_status == 2
