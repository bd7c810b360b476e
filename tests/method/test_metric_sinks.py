"""--log-to: every log.jsonl record also reaches TensorBoard and W&B, read back with their own
readers (TensorBoard's EventAccumulator; W&B's offline run file, parsed with W&B's protobuf
records), and a resumed run continues the same dashboards."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from atu.cli import main as atu_main
from atu.gan.pretrain import ModelConfig, PretrainConfig, pretrain
from atu.gan.run import Schedule, run_identity
from atu.gan.trainer import TrainConfig
from atu.util import metric_sinks
from atu.util.errors import InputError
from atu.util.metric_sinks import MetricSinks, SinkUnavailableError, check_sinks

TINY = PretrainConfig(
    data="digits",
    steps=4,
    seed=3,
    model=ModelConfig(size=16, style_dim=32, n_mlp=2, width=8),
    train=TrainConfig(batch_size=8, d_reg_every=2, g_reg_every=2),
)


def _log_records(out: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())}


def _tensorboard_scalars(folder: Path) -> dict[str, dict[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    scalars = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        assert len(steps) == len(set(steps)), f"{tag}: a step shown twice: {steps}"
        scalars[tag] = {e.step: e.value for e in events}
    return scalars


def _wandb_records(run_file: Path) -> list:
    """The protobuf records of a W&B run file: a 7-byte header (":W&B", magic, version), then
    LevelDB's log format: 32 KiB blocks of chunks, each a 7-byte header (crc32c, length, type:
    1 full, 2 first, 3 middle, 4 last) and its bytes; a block's tail too short for a header is padding."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    block, pos, records, pending = 32 * 1024, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the block's padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _wandb_history(out: Path) -> tuple[dict[int, dict], set[str], dict]:
    """{step: values} over every offline run W&B wrote under `out`, the run ids, the config."""
    history, ids, config = {}, set(), {}
    for run_file in sorted(out.glob("wandb/offline-run-*/run-*.wandb")):
        for record in _wandb_records(run_file):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                ids.add(record.run.run_id)
                config.update(
                    {
                        k: json.loads(u.value_json)
                        for u in record.run.config.update
                        if not (k := u.key or "/".join(u.nested_key)).startswith("_")
                    }
                )
            elif kind == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                history.setdefault(record.history.step.num, {}).update(
                    {k: v for k, v in items.items() if not k.startswith("_")}
                )
    return history, ids, config


# ---- the names --------------------------------------------------------------------------------------


def test_sink_names_are_checked_and_a_missing_package_names_its_extra(monkeypatch):
    assert check_sinks("tensorboard, wandb,tensorboard") == ("tensorboard", "wandb")
    assert check_sinks([]) == ()
    with pytest.raises(InputError, match="log sink 'mlflow': expected one of tensorboard, wandb"):
        check_sinks("mlflow")
    real_find_spec = metric_sinks.importlib.util.find_spec
    monkeypatch.setattr(
        metric_sinks.importlib.util, "find_spec", lambda name: None if name == "wandb" else real_find_spec(name)
    )
    with pytest.raises(SinkUnavailableError, match=r"needs the wandb package.*pip install 'atu\[wandb\]'"):
        Schedule(log_to=["wandb"])


def test_a_bad_sink_stops_the_command_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        atu_main(["pretrain", "--data", "digits", "--out", str(out), "--log-to", "mlflow"])
    assert exit_.value.code == 2
    assert "log sink 'mlflow': expected one of tensorboard, wandb" in capsys.readouterr().err
    assert not out.exists()


# ---- TensorBoard ------------------------------------------------------------------------------------


def test_tensorboard_gets_every_logged_value_and_a_resumed_run_continues_it(tmp_path):
    out = tmp_path / "run"
    schedule = Schedule(sample_every=0, checkpoint_every=2, log_every=1, log_to=("tensorboard",))
    pretrain(PretrainConfig(**{**TINY.__dict__, "steps": 2}), out, progress=False, schedule=schedule)
    pretrain(TINY, out, resume=True, progress=False, schedule=schedule)
    logged = _log_records(out)
    assert sorted(logged) == [1, 2, 3, 4]
    scalars = _tensorboard_scalars(out / metric_sinks.TENSORBOARD_DIR)
    shown = {(tag, step): value for tag, by_step in scalars.items() for step, value in by_step.items()}
    expected = {(tag, step): value for step, record in logged.items() for tag, value in record.items() if tag != "step"}
    assert shown.keys() == expected.keys()
    for key, value in shown.items():  # TensorBoard keeps float32
        assert value == pytest.approx(expected[key], rel=1e-6, abs=1e-30), key


def test_tensorboard_hides_what_was_logged_past_the_checkpoint_a_run_resumes_from(tmp_path):
    first = MetricSinks(["tensorboard"], tmp_path, run_id="r")
    for step in range(1, 6):
        first.log(step, {"loss": float(step)})
    first.close()
    resumed = MetricSinks(["tensorboard"], tmp_path, run_id="r", first_step=3)  # steps 4, 5 again
    for step in (4, 5, 6):
        resumed.log(step, {"loss": 10.0 * step})
    resumed.close()
    assert _tensorboard_scalars(tmp_path / metric_sinks.TENSORBOARD_DIR)["loss"] == {
        1: 1.0,
        2: 2.0,
        3: 3.0,
        4: 40.0,
        5: 50.0,
        6: 60.0,
    }


# ---- Weights & Biases (offline: nothing leaves the machine) ------------------------------------------


def test_wandb_gets_every_logged_value_under_the_runs_id_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    schedule = Schedule(sample_every=0, checkpoint_every=2, log_every=1, log_to=("wandb",))
    pretrain(PretrainConfig(**{**TINY.__dict__, "steps": 2}), out, progress=False, schedule=schedule)
    _, _, config = _wandb_history(out)
    assert config == json.loads((out / "run.json").read_text())["config"]
    pretrain(TINY, out, resume=True, progress=False, schedule=schedule)
    logged = _log_records(out)
    history, ids, _ = _wandb_history(out)
    assert ids == {run_identity(out)["run_id"]}
    assert sorted(history) == [1, 2, 3, 4]
    for step, values in history.items():
        assert values == {k: v for k, v in logged[step].items() if k != "step"}
