"""The README's quickstart as a user with a 256-px rosinality checkpoint runs it, command by command:
atu label (the real server, marked over HTTP) → adapt → unlearn → extrapolate → a judge trained on a
256-px image folder → fid-stats → evaluate → convert back to rosinality's layout.

The generator has rosinality's 256-px architecture (its layers, upsampling and key names) at a few
channels per layer, so the whole chain takes seconds; what is checked is that every command takes
the previous one's output at this resolution, and that the last file carries the unlearned weights.
"""

import http.client
import io
import json

import pytest
import torch
from PIL import Image

import atu
from atu.checkpoint.feedback_bundle import load_bundle
from atu.cli import main as atu_main
from atu.models import Discriminator, Generator, narrow_channels
from data_files import write_attribute_folder
from label_process import label_process
from tiny_gans import save_pretrained

SIZE, STYLE_DIM = 256, 32
CHANNELS = narrow_channels(SIZE, 8)
N_MARKED = 12
QUIET = ["--device", "cpu", "--log-every", "1", "--checkpoint-every", "2", "--sample-every", "2"]


@pytest.fixture(scope="module")
def rosinality_pt(tmp_path_factory):
    """A 256-px checkpoint in rosinality's .pt layout (g, d, g_ema, args), as `atu convert` writes it."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    G = Generator(SIZE, STYLE_DIM, n_mlp=2, channels=CHANNELS)
    D = Discriminator(SIZE, channels=CHANNELS)
    source = save_pretrained(root / "source.safetensors", G, D)
    path = root / "550000.pt"
    assert atu_main(["convert", str(source), str(path)]) == 0
    raw = torch.load(path, map_location="cpu", weights_only=False)
    assert {"g", "d", "g_ema"} <= set(raw) and "convs.0.conv.weight" in raw["g_ema"]
    return path


def _label_over_http(gen, out, marked):
    """`atu label` in its own process, as a person runs it: one image looked at, marks saved, Ctrl-C."""
    args = ["--gen", gen, "--n", N_MARKED, "--out", out, "--device", "cpu"]
    with label_process(args, cwd=out.parent) as label:
        connection = http.client.HTTPConnection("127.0.0.1", label.port, timeout=60)
        connection.request("GET", "/img/0.png")
        image = connection.getresponse().read()
        assert image[:8] == b"\x89PNG\r\n\x1a\n"
        connection.request("POST", "/api/save", json.dumps({"undesired": marked}), {"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
    assert label.returncode == 0
    return image


def test_the_quickstart_runs_on_a_256_px_rosinality_checkpoint(tmp_path, rosinality_pt, capsys):
    marks = tmp_path / "marks"
    png = _label_over_http(rosinality_pt, marks, marked=[0, 3, 5, 8])
    assert Image.open(io.BytesIO(png)).size == (SIZE, SIZE)
    feedback = marks / "feedback.safetensors"
    assert load_bundle(feedback).undesired.nonzero().flatten().tolist() == [0, 3, 5, 8]

    gen = ["--gen", str(rosinality_pt)]
    adapt = tmp_path / "runs" / "adapt"
    assert (
        atu_main(
            ["adapt", *gen, "--feedback", str(feedback), "--out", str(adapt)]
            + ["--k", "2", "--steps", "2", "--batch", "2", "--fisher-samples", "2", *QUIET]
        )
        == 0
    )
    unlearn = tmp_path / "runs" / "unlearn"
    assert (
        atu_main(
            ["unlearn", *gen, "--adapted", str(adapt), "--feedback", str(feedback), "--out", str(unlearn)]
            + ["--steps", "2", "--batch", "2", *QUIET]
        )
        == 0
    )
    extrapolated = tmp_path / "runs" / "extrapolate"
    assert (
        atu_main(
            ["extrapolate", *gen, "--adapted", str(adapt), "--out", str(extrapolated)]
            + ["--scales", "0.5", "--n-strip", "2"]
        )
        == 0
    )

    # the judge: an attribute classifier trained on a folder of 256-px images with a CelebA table
    rows = {f"{i:06d}.png": {"Eyeglasses": int(i % 2)} for i in range(16)}
    table = write_attribute_folder(tmp_path / "faces", rows, size=SIZE, brightness_from="Eyeglasses")
    judge = tmp_path / "glasses.safetensors"
    data = ["--data", f"folder:{table.parent}", "--attributes-file", str(table)]
    assert (
        atu_main(
            ["train-classifier", *data, "--attribute", "Eyeglasses", "--resolution", str(SIZE)]
            + ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", str(judge)]
        )
        == 0
    )
    stats = tmp_path / "no_glasses.npz"
    assert (
        atu_main(
            ["fid-stats", *data, "--exclude-attribute", "Eyeglasses", "--classifier", str(judge)]
            + ["--resolution", str(SIZE), "--n-fid", "8", "--device", "cpu", "--out", str(stats)]
        )
        == 0
    )

    unlearned = unlearn / "model.safetensors"
    evaluation = tmp_path / "metrics.json"
    models = ["--model", f"el2={unlearned}", "--model", f"s0.5={next(extrapolated.glob('*.safetensors'))}"]
    assert (
        atu_main(
            ["evaluate", *gen, *models, "--classifier", str(judge), "--class", "1"]
            + ["--real-stats", str(stats), "--n-bank", "8", "--n-fid", "8", "--device", "cpu"]
            + ["--out", str(evaluation)]
        )
        == 0
    )
    metrics = json.loads(evaluation.read_text())
    assert set(metrics["methods"]) == {"el2", "s0.5"}
    # the folder read directly leaves out the same images: the same FID as from the statistics file
    judged = [*gen, *models, "--classifier", str(judge), "--class", "1", "--n-bank", "8", "--n-fid", "8"]
    direct = tmp_path / "direct.json"
    assert atu_main(["evaluate", *judged, *data, "--device", "cpu", "--out", str(direct)]) == 0
    again = json.loads(direct.read_text())
    for name in ("el2", "s0.5"):
        assert again["methods"][name]["fid"] == pytest.approx(metrics["methods"][name]["fid"], rel=1e-6)
    capsys.readouterr()
    refused = tmp_path / "refused.json"
    assert atu_main(["evaluate", *judged, data[0], data[1], "--device", "cpu", "--out", str(refused)]) == 2
    assert "--attributes-file" in capsys.readouterr().err and not refused.exists()

    back = tmp_path / "unlearned.pt"
    assert atu_main(["convert", str(unlearned), str(back)]) == 0
    written = torch.load(back, map_location="cpu", weights_only=False)["g_ema"]
    G, _ = atu.load(unlearned, device="cpu")
    for name, value in G.state_dict().items():
        assert torch.equal(written[name], value), name
    G0, _ = atu.load(rosinality_pt, device="cpu")
    assert G.size == G0.size == SIZE
    assert any(not torch.equal(a, b) for a, b in zip(G.parameters(), G0.parameters()))  # unlearning moved it
