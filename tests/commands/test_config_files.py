"""Study files from hostile or careless hands: refused with a short error that names the line and
the problem, quotes nothing of the file, and costs no memory (issue 24, item 5)."""

import resource

import pytest

from atu.cli import main as atu_main
from atu.study import ConfigError, load_config
from atu.study.config_file import MAX_CONFIG_BYTES

# 9 levels of 9 aliases each: 9^9 (387 million) references if anything walks it, in 660 bytes
ALIAS_BOMB = (
    "\n".join(
        ["a: &a [x,x,x,x,x,x,x,x,x]"]
        + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    )
    + "\n"
)
SECRET = "root:$6$salt$hashedpasswordXYZ:19000:0:99999:7:::"


def test_an_alias_bomb_inside_a_known_key_is_refused_without_expanding(tmp_path):
    assert len(ALIAS_BOMB) < 1000
    path = tmp_path / "bomb.yaml"
    path.write_text("seeds:\n  - 0\nfeatures:\n" + "".join("  " + line + "\n" for line in ALIAS_BOMB.splitlines()))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="line 5: YAML aliases .* are not accepted"):
        load_config(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing expanded


def test_errors_never_quote_the_file(tmp_path, capsys):
    shadow_like = tmp_path / "shadow"
    shadow_like.write_text("\n".join([SECRET, "daemon:*:19000:0:99999:7:::", "  bad: indent: here"]) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(shadow_like)
    assert "hashedpassword" not in str(err.value) and "daemon" not in str(err.value)
    assert "line" in str(err.value)
    assert atu_main(["run", str(shadow_like), "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    assert "hashedpassword" not in printed.out + printed.err and "daemon" not in printed.out + printed.err
    keys = tmp_path / "keys.yaml"  # a mapping of unknown keys: names a few, briefly
    keys.write_text("".join(f"user{i}{'x' * 200}: secret{i}\n" for i in range(20)))
    with pytest.raises(ConfigError) as err:
        load_config(keys)
    message = str(err.value)
    assert "and 15 more" in message and "secret" not in message and len(message) < 1200


def test_binary_huge_and_unreadable_files_are_config_errors(tmp_path):
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(binary)
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="too large for a study file"):
        load_config(huge)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"seeds": [0,\n "' + SECRET + '"')
    with pytest.raises(ConfigError, match="not valid JSON: line 2") as err:
        load_config(bad_json)
    assert "hashedpassword" not in str(err.value)


def test_input_files_nested_past_the_parsers_depth_are_errors_not_tracebacks(tmp_path):
    import torch
    from safetensors.torch import save_file

    from atu import checkpoint as ckpt
    from atu.checkpoint.atu_format import HEADER_KEY
    from atu.feedback.marks import MarksError, read_marks

    deep = "[" * 100_000 + "]" * 100_000
    for name in ("deep.json", "deep.yaml"):
        (tmp_path / name).write_text(deep if name.endswith(".json") else "seeds: " + deep)
        with pytest.raises(ConfigError, match="nested too deeply|not valid"):
            load_config(tmp_path / name)
    (tmp_path / "marks.json").write_text(deep)
    with pytest.raises(MarksError, match="nested too deeply"):
        read_marks(tmp_path / "marks.json")
    crafted = tmp_path / "crafted.safetensors"
    save_file({"g_ema/w": torch.zeros(2)}, str(crafted), metadata={HEADER_KEY: deep})
    with pytest.raises(ckpt.CheckpointError, match="nested too deeply"):
        ckpt.load(crafted)
