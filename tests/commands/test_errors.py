"""One error policy: atu's error types carry their exit status and `atu` reports any of them once,
in one line (2: input that cannot be used; 1: a run that started and failed)."""

import pytest

from atu import cli
from atu.checkpoint import CheckpointError
from atu.checkpoint.convert import ConvertError
from atu.commands import pretrain
from atu.commands.options import UsageError
from atu.feedback.marks import MarksError
from atu.gan.run import NonFiniteLossError
from atu.study.checks import ConfigError
from atu.study.inputs import StudyError
from atu.util.errors import AtuError, InputError, RunFailedError
from atu.util.outputs import OutputInUseError, OutputNotWritableError


@pytest.mark.parametrize(
    "error, status",
    [
        (UsageError("x"), 2),
        (CheckpointError("x"), 2),
        (ConfigError("x"), 2),
        (StudyError("x"), 2),
        (MarksError("x"), 2),
        (ConvertError("x"), 2),
        (OutputNotWritableError("x"), 2),
        (OutputInUseError("x"), 2),
        (NonFiniteLossError("x", step=3), 1),
    ],
)
def test_every_error_type_carries_its_exit_status(error, status):
    assert isinstance(error, AtuError) and error.exit_status == status
    # and stays what API callers catch
    assert isinstance(error, ValueError) == isinstance(error, InputError)
    assert isinstance(error, RuntimeError) or isinstance(error, ValueError)


@pytest.mark.parametrize(
    "raised, status",
    [
        (InputError("the file is bad"), 2),
        (RunFailedError("the run broke"), 1),
        (NonFiniteLossError("loss is nan at step 7", step=7), 1),
        (ValueError("a value out of range"), 2),
        (FileNotFoundError("no such file"), 2),
    ],
)
def test_the_entry_point_reports_each_once_with_its_status(monkeypatch, capsys, tmp_path, raised, status):
    def fails(args):
        raise raised

    monkeypatch.setattr(pretrain, "_main", fails)
    assert cli.main(["pretrain", "--out", str(tmp_path / "run")]) == status
    err = capsys.readouterr().err
    assert err.strip() == f"atu pretrain: error: {raised}" and "Traceback" not in err


def test_a_bug_is_not_dressed_as_an_input_error(monkeypatch, tmp_path):
    def fails(args):
        raise TypeError("a bug")

    monkeypatch.setattr(pretrain, "_main", fails)
    with pytest.raises(TypeError):
        cli.main(["pretrain", "--out", str(tmp_path / "run")])


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["feedback", "--gen", "g.pt", "--n", "1000000000000", "--draw-only", "--out", "b.safetensors"],
            "argument --n: must be an integer from 1 to 10,000,000, got 1000000000000",
        ),
        (["label", "--gen", "g.pt", "--n", "0", "--out", "marks"], "argument --n: must be an integer from 1 to"),
        (
            (
                ["evaluate", "--gen", "g.pt", "--classifier", "c", "--class", "8", "--n-bank", "10000000000"]
                + ["--out", "e.json"]
            ),
            "argument --n-bank: must be an integer from 1 to 10,000,000",
        ),
        (
            ["extrapolate", "--gen", "g", "--adapted", "a", "--seed", "-3", "--out", "x"],
            "argument --seed: must be an integer from 0 to 4,294,967,295, got -3",
        ),
        (["pretrain", "--steps", "1e23", "--out", "run"], "argument --steps: expected an integer, got '1e23'"),
        (
            ["adapt", "--gen", "g", "--feedback", "f", "--k", "100000", "--out", "a"],
            "k must be an integer from 1 to 64",
        ),
    ],
)
def test_counts_and_seeds_out_of_range_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, message):
    """Before: `--n 1e12` began drawing a trillion samples, `--k 1e9` began stage 1."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        status = cli.main(argv)
        raise SystemExit(status)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "raised, tried",
    [
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                "tried to allocate 4294967296 bytes. Error code 12 (Cannot allocate memory)"
            ),
            " (it tried to allocate 4.0 GiB)",
        ),
        (MemoryError(), ""),
    ],
)
def test_out_of_memory_is_one_line_naming_the_options_that_lower_it(monkeypatch, capsys, tmp_path, raised, tried):
    """Before: a traceback (`atu adapt` at 1024 px: DefaultCPUAllocator ... 4294967296 bytes)."""
    from atu.commands import pretrain as command

    def fails(args):
        raise raised

    monkeypatch.setattr(command, "_main", fails)
    assert cli.main(["pretrain", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"atu pretrain: error: out of memory{tried}; lower --batch, --sample-every 0 and continue with "
        "--resume (what was saved before is intact)\n"
    )


def test_a_runtime_error_that_is_not_about_memory_keeps_its_traceback(monkeypatch, tmp_path):
    from atu.commands import pretrain as command

    def fails(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(command, "_main", fails)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["pretrain", "--out", str(tmp_path / "run")])


def test_a_batch_that_cannot_fit_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """Where running out of memory can be predicted it is refused with exit 2, naming the option and
    a batch that fits (before: the run started and died at its first allocation)."""
    from atu import checkpoint
    from atu.models import Discriminator, Generator, fits, narrow_channels

    config_f = Generator(1024, style_dim=8, n_mlp=1, channel_multiplier=2)
    assert config_f.bytes_per_image() == 2**30 and config_f.bytes_per_image(training=True) == 2**32
    G, D = (
        Generator(16, style_dim=8, n_mlp=1, channels=narrow_channels(16, 8)),
        Discriminator(16, channels=narrow_channels(16, 8)),
    )
    gen = checkpoint.save(
        tmp_path / "g.safetensors",
        kind="stylegan2",
        config={"generator": G.config(), "discriminator": D.config()},
        state_dicts={"g_ema": G.state_dict(), "d": D.state_dict()},
    )
    per_image = G.bytes_per_image()
    monkeypatch.setattr(fits, "available_bytes", lambda device: 10 * per_image)  # room for about 10
    out = tmp_path / "bank.safetensors"
    assert (
        cli.main(
            ["feedback", "--gen", str(gen), "--n", "40", "--batch-size", "40", "--draw-only", "--device"]
            + ["cpu", "--out", str(out)]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "--batch-size 40 at 16 px needs at least" in err and "use --batch-size 10 or less" in err and not out.exists()
    )
    assert (
        cli.main(
            ["feedback", "--gen", str(gen), "--n", "40", "--batch-size", "10", "--draw-only", "--device"]
            + ["cpu", "--out", str(out)]
        )
        == 0
    )
