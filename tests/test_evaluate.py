"""`atu evaluate` on tiny models: metrics equal independent counts and FIDs; Ret-FID missing when no
retrained model is given; bad input refused before anything is written."""
import json

import pytest
import torch

from atu import checkpoint as ckpt
from atu.classifiers import LeNet, feature_fn, predict, save_classifier
from atu.cli import main as atu_main
from atu.eval.fid import fid
from atu.evaluate import evaluate
from atu.models import Discriminator, Generator, narrow_channels


def _generator(seed):
    torch.manual_seed(seed)
    return Generator(16, style_dim=16, n_mlp=1, channels=narrow_channels(16, 4)).eval()


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(3)
    return LeNet(num_classes=2, resolution=16).eval()


def test_metrics_match_independent_counts_and_fids(classifier):
    G, other = _generator(0), _generator(1)
    real = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    m = evaluate(G, {"same": G, "other": other}, classifier, 1, real, retrained=other, n_bank=40, n_fid=30, seed=5)
    n_g = int((predict(classifier, G.sample(40, seed=5)) == 1).sum())
    n_o = int((predict(classifier, other.sample(40, seed=5)) == 1).sum())
    assert m["pretrained"]["n_undesired"] == n_g and m["methods"]["other"]["n_undesired"] == n_o
    assert m["methods"]["same"]["pul"] == 0.0
    if n_g:
        assert m["methods"]["other"]["pul"] == pytest.approx(100 * (n_g - n_o) / n_g)
    f = feature_fn(classifier)
    assert m["pretrained"]["fid"] == pytest.approx(fid(f, G.sample(30, seed=6), real), rel=1e-9)
    assert m["methods"]["other"]["ret_fid"] == pytest.approx(0.0, abs=1e-6)
    assert m["pretrained"]["ret_fid"] == pytest.approx(fid(f, G.sample(30, seed=6), other.sample(30, seed=6)), rel=1e-9)
    assert evaluate(G, {}, classifier, 1, real, n_bank=4, n_fid=4)["pretrained"]["ret_fid"] is None


def test_the_command_line_and_its_refusals(classifier, tmp_path, capsys):
    G = _generator(0)
    D = Discriminator(16, channels=narrow_channels(16, 4))
    gen = tmp_path / "g.safetensors"
    ckpt.save(gen, kind="stylegan2", config={"generator": G.config(), "discriminator": D.config()},
              state_dicts={"g_ema": G.state_dict(), "d": D.state_dict()})
    clf = tmp_path / "c.safetensors"
    save_classifier(clf, classifier, {})
    base = ["evaluate", "--gen", str(gen), "--classifier", str(clf), "--n-bank", "20", "--n-fid", "20"]
    out = tmp_path / "metrics.json"
    c = int(predict(classifier, G.sample(20, seed=0)).mode().values)       # a class G does make
    assert atu_main([*base, "--class", str(c), "--model", f"copy={gen}", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["class"] == c and metrics["methods"]["copy"]["ret_fid"] is None
    assert metrics["methods"]["copy"]["pul"] == 0.0
    assert "Ret-FID missing" in capsys.readouterr().out
    for cls, bad, message in [("1", ["--model", "nonsense"], "NAME=FILE"), ("8", [], "classes 0..1"),
                              ("1", ["--force", "--n-fid", "1"], "n-fid")]:
        with pytest.raises(SystemExit, match=message):
            atu_main([*base, "--class", cls, "--out", str(tmp_path / "new.json"), *bad])
    with pytest.raises(SystemExit, match="exists"):
        atu_main([*base, "--class", "1", "--out", str(out)])
    assert not (tmp_path / "new.json").exists()
