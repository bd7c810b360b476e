"""Can stage 2's discriminator tell the undesired samples from the others? D (from the pre-trained
checkpoint) is trained against the frozen pre-trained generator with the feedback's desired images
as real data, exactly stage 2's discriminator step at the demo's settings (logistic loss, lazy R1,
Adam with the lazy correction), and every --every steps it scores 3,000 fresh samples of θ_G that the
demo's classifier has labelled: the AUC with which −D(x) ranks the 8s above the others, D's mean logit
on each group, and on desired images it trained on and 500 it never saw (memorisation).

If D separates the 8s well but with a small logit gap, the generator's non-saturating gradient is
nearly the same on an 8 as on any other sample, which is why stage 2 removes them slowly.

  python bench/experiments/d_sensitivity.py --demo DIR                     # lr 5e-4, R1 10 (stage 2's)
  python bench/experiments/d_sensitivity.py --demo DIR --lr 2e-3 --r1 1    # a stronger D

DIR is an `atu demo --out DIR` folder (its DIR/no8/feedback.safetensors). Results:
bench/results/experiments/cpu-2core-epyc-stage2-limits.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from atu import assets
from atu.classifiers import load_classifier, predict
from atu.gan.sampling import Batches
from atu.gan.trainer import StyleGAN2Trainer, TrainConfig
from atu.stages.inputs import load_feedback_images, load_pretrained

UNDESIRED, N_TEST, TEST_SEED, N_HELD = 8, 3_000, 77, 500


@torch.no_grad()
def logits(D, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([D(images[i : i + batch]).flatten() for i in range(0, len(images), batch)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo", required=True, help="an `atu demo --out` folder for class 8")
    p.add_argument("--lr", type=float, default=5e-4, help="D's learning rate (default: stage 2's in the demo)")
    p.add_argument("--r1", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=200)
    a = p.parse_args()
    torch.set_num_threads(1)

    G, D = load_pretrained(assets.path(assets.SHIPPED["digits"].generator))
    classifier = load_classifier(assets.path(assets.SHIPPED["digits"].classifier)).eval()
    desired = load_feedback_images(Path(a.demo) / f"no{UNDESIRED}" / "feedback.safetensors", 32, "positives")
    train, held = desired[:-N_HELD], desired[-N_HELD:]
    with torch.no_grad():
        test = G.eval().sample(N_TEST, seed=TEST_SEED)
        is_undesired = predict(classifier, test) == UNDESIRED
    # The trainer's discriminator step against a generator that never steps.
    trainer = StyleGAN2Trainer(G, D, TrainConfig(lr=a.lr, r1=a.r1), seed=0)
    batches = Batches.of_tensor(train, trainer.config.batch_size, 0)

    for step in range(a.steps + 1):
        if step % a.every == 0:
            d_test = logits(D, test)
            print(
                json.dumps(
                    {
                        "step": step,
                        "lr": a.lr,
                        "r1": a.r1,
                        "test_undesired": int(is_undesired.sum()),
                        "auc_undesired_as_fake": round(
                            roc_auc_score(is_undesired.numpy(), -d_test.double().numpy()), 3
                        ),
                        "d_undesired": round(float(d_test[is_undesired].mean()), 3),
                        "d_desired": round(float(d_test[~is_undesired].mean()), 3),
                        "d_trained_on": round(float(logits(D, train[:N_HELD]).mean()), 3),
                        "d_held_out": round(float(logits(D, held).mean()), 3),
                    }
                ),
                flush=True,
            )
        if step < a.steps:
            trainer.discriminator_step(batches.next(), regularize=step % trainer.config.d_reg_every == 0)


if __name__ == "__main__":
    main()
