"""NVlabs StyleGAN2-ADA generators in atu: the same latent gives the same image (float64, constant
noise, truncation 1) as an independent forward of NVlabs' architecture, for several resolutions and
widths; what cannot map is refused naming why."""

import pytest
import torch

from atu import checkpoint
from atu.checkpoint import CheckpointError
from nvlabs_pickles import (
    discriminator_record,
    generator_record,
    network,
    nvlabs_discriminator_forward,
    nvlabs_generator_forward,
    random_discriminator_tensors,
    random_generator_tensors,
    remove_stand_ins,
    write_pickle,
)


def _write_snapshot(path, env, g_tensors, d_tensors, size, **discriminator_options):
    """A pickle of G_ema (w_dim 8, 2 mapping layers) and D as NVlabs' training loop writes its snapshots."""
    g = generator_record(env, g_tensors, size, 8, 2)
    d = discriminator_record(env, d_tensors, size, **discriminator_options)
    write_pickle(path, {"G_ema": g, "D": d})


@pytest.mark.parametrize(
    "size, w_dim, n_mlp, widths",
    [
        (16, 8, 2, {4: 8, 8: 6, 16: 4}),
        (32, 16, 8, {4: 12, 8: 12, 16: 8, 32: 4}),
    ],
)
def test_the_same_latent_gives_the_same_image_as_nvlabs_forward(tmp_path, nvlabs_env, size, w_dim, n_mlp, widths):
    tensors = random_generator_tensors(size, w_dim, n_mlp, widths, seed=size)
    path = tmp_path / "network-snapshot-000400.pkl"
    G = generator_record(nvlabs_env, tensors, size, w_dim, n_mlp)
    write_pickle(path, {"G": G, "G_ema": G, "D": None, "training_set_kwargs": nvlabs_env.EasyDict(resolution=size)})
    remove_stand_ins()
    ck = checkpoint.load(path)
    assert not nvlabs_env.marker.exists()
    assert ck.format == "nvlabs" and ck.sections == ["g_ema", "g"]
    assert ck.config["generator"]["channels"] == {str(r): c for r, c in widths.items()}
    assert ck.metadata["networks"]["g_ema"]["dropped_conv_clamp"] == [256.0]
    assert ck.metadata["training_set_kwargs"] == {"resolution": size}
    assert ck.metadata["init_arguments"]["G_ema"]["kwargs"]["img_resolution"] == size
    ours = ck.generator("g_ema").double()
    z = torch.randn(3, w_dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        image, _ = ours([z], randomize_noise=False)
        expected = nvlabs_generator_forward(tensors, z, size, n_mlp)
    assert image.shape == (3, 3, size, size)
    torch.testing.assert_close(image, expected, rtol=1e-6, atol=1e-6 * expected.abs().max().item())


def test_what_cannot_map_is_refused_naming_why(tmp_path, nvlabs_env):
    tensors = random_generator_tensors(16, 8, 2, {4: 8, 8: 8, 16: 8}, seed=0)
    cases = {
        "conditional": (generator_record(nvlabs_env, tensors, 16, 8, 2, c_dim=10), "a conditional generator"),
        "resnet": (
            generator_record(nvlabs_env, tensors, 16, 8, 2, architecture="resnet"),
            "'resnet' synthesis architecture",
        ),
        "stylegan3": (
            network(
                nvlabs_env,
                "Generator",
                modules={
                    "mapping": generator_record(nvlabs_env, tensors, 16, 8, 2).meta["state"]["_modules"]["mapping"],
                    "synthesis": network(
                        nvlabs_env, "SynthesisNetwork", modules={"L0_36_512": network(nvlabs_env, "SynthesisLayer")}
                    ),
                },
                kwargs={"z_dim": 8, "c_dim": 0, "w_dim": 8},
            ),
            "StyleGAN3",
        ),
    }
    for name, (G, _message) in cases.items():
        write_pickle(tmp_path / f"{name}.pkl", {"G_ema": G})
    remove_stand_ins()
    for name, (_, message) in cases.items():
        with pytest.raises(CheckpointError, match=message):
            checkpoint.load(tmp_path / f"{name}.pkl")
    assert not nvlabs_env.marker.exists()


@pytest.mark.parametrize("size, widths", [(16, {4: 8, 8: 6, 16: 4}), (32, {4: 6, 8: 6, 16: 4, 32: 4})])
def test_the_discriminator_scores_as_nvlabs_forward_does(tmp_path, nvlabs_env, size, widths):
    g_tensors = random_generator_tensors(size, 8, 2, widths, seed=1)
    d_tensors = random_discriminator_tensors(size, widths, seed=2)
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, nvlabs_env, g_tensors, d_tensors, size)
    remove_stand_ins()
    ck = checkpoint.load(path)
    assert ck.sections == ["g_ema", "d"] and not nvlabs_env.marker.exists()
    D = ck.discriminator("d").double()
    images = torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        ours, expected = D(images), nvlabs_discriminator_forward(d_tensors, images, size)
    assert ours.shape == (8, 1)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())


def test_a_non_resnet_discriminator_is_refused(tmp_path, nvlabs_env):
    widths = {4: 8, 8: 8, 16: 8}
    path = tmp_path / "orig.pkl"
    g_tensors = random_generator_tensors(16, 8, 2, widths, seed=1)
    d_tensors = random_discriminator_tensors(16, widths, seed=2)
    _write_snapshot(path, nvlabs_env, g_tensors, d_tensors, 16, architecture="orig")
    remove_stand_ins()
    with pytest.raises(CheckpointError, match="'orig' discriminator architecture"):
        checkpoint.load(path)


def test_a_snapshot_runs_feedback_stage_1_and_stage_2_like_any_checkpoint(tmp_path, nvlabs_env):
    """`--gen network-snapshot.pkl` through the commands users run, with nothing from the file executed."""
    from atu.classifiers import LeNet, load_classifier, predict, save_classifier
    from atu.cli import main as atu_main

    widths = {4: 8, 8: 6, 16: 4}
    snapshot = tmp_path / "network-snapshot-000400.pkl"
    g_tensors = random_generator_tensors(16, 8, 2, widths, seed=1)
    d_tensors = random_discriminator_tensors(16, widths, seed=2)
    _write_snapshot(snapshot, nvlabs_env, g_tensors, d_tensors, 16)
    remove_stand_ins()
    torch.manual_seed(3)
    judge = tmp_path / "judge.safetensors"
    save_classifier(judge, LeNet(num_classes=10, resolution=16).eval(), {})
    G = checkpoint.load(snapshot).generator("g_ema").eval()
    counts = torch.bincount(predict(load_classifier(judge), G.sample(60, seed=0)), minlength=10)
    target = int(counts.argmax())
    assert 0 < counts[target] < 60, "the random judge must split the samples"
    feedback = tmp_path / "feedback.safetensors"
    small = ["--batch", "4", "--device", "cpu", "--checkpoint-every", "2", "--sample-every", "100"]
    assert (
        atu_main(
            ["feedback", "--gen", str(snapshot), "--classifier", str(judge), "--class", str(target), "--n"]
            + ["60", "--device", "cpu", "--out", str(feedback)]
        )
        == 0
    )
    assert (
        atu_main(
            ["adapt", "--gen", str(snapshot), "--feedback", str(feedback), "--k", "1", "--steps", "2"]
            + ["--fisher-samples", "2", "--out", str(tmp_path / "adapt"), *small]
        )
        == 0
    )
    assert (
        atu_main(
            ["unlearn", "--gen", str(snapshot), "--adapted", str(tmp_path / "adapt"), "--feedback"]
            + [str(feedback), "--steps", "2", "--out", str(tmp_path / "unlearn"), *small]
        )
        == 0
    )
    unlearned = checkpoint.load(tmp_path / "unlearn" / "model.safetensors").generator("g_ema")
    assert unlearned.config() == G.config() and not nvlabs_env.marker.exists()
