"""LaMa's recipe against advimman/lama's own loss code: every term, one generator and one discriminator step.

tests/fixtures/training_parity/lama_official.json was written by the official losses and discriminator
(make_lama_official.py beside it, README there) on the seeded weights and inputs of tools/parity.py, in
float64, with the module in train mode as pytorch-lightning 1.2.9 leaves it (so `hrf_bn: train`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import RepeatedSamples, quiet_trainer
from torch.utils.data import DataLoader

from inpaintbench.losses.hrf_perceptual import DilatedResNet50
from inpaintbench.training.systems.lama import LamaSystem
from tools import parity

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "training_parity" / "lama_official.json").read_text())
G, D = FIXTURE["generator"], FIXTURE["discriminator_step"]


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, size = len(FIXTURE["boxes"]), FIXTURE["size"]
    image = parity.smooth_images(FIXTURE["image_seed"], n, size).double()
    mask = parity.box_holes(n, size, FIXTURE["boxes"]).double()
    return image, mask, parity.smooth_images(FIXTURE["pred_seed"], n, size).double()


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ade20k") / "encoder_epoch_20.pth"
    torch.save(parity.seeded_state_dict(FIXTURE["seed"], DilatedResNet50(deep_stem=True).state_dict()), path)
    return path


def _system(encoder_file: Path, hrf_bn: str = "train") -> LamaSystem:
    weights = FIXTURE["weights"]
    system = LamaSystem(
        "lama_tiny",
        perceptual_backbone="ade20k_resnet50dilated",
        perceptual_weights=str(encoder_file),
        hrf_bn=hrf_bn,
        l1_weight_known=weights["l1_known"],
        l1_weight_missing=weights["l1_missing"],
        hrf_perceptual_weight=weights["resnet_pl"],
        adversarial_weight=weights["adversarial"],
        feature_matching_weight=weights["feature_matching"],
        r1_weight=FIXTURE["gp_coef"],
        lr=FIXTURE["lr"]["generator"],
        lr_discriminator=FIXTURE["lr"]["discriminator"],
        gradient_clip_val=FIXTURE["gradient_clip_val"],
        discriminator_channels=FIXTURE["discriminator"]["ndf"],
        discriminator_layers=FIXTURE["discriminator"]["n_layers"],
    )
    seeded = parity.seeded_state_dict(FIXTURE["seed"], system.discriminator.state_dict())
    system.discriminator.load_state_dict(seeded)  # official key names: same seeds, same values
    _, _, pred = _inputs()
    system.generator = parity.LearnedImage(pred)
    return system.double().train()


def test_generator_terms_equal_the_official_losses(encoder_file: Path) -> None:
    system = _system(encoder_file)  # hrf_bn: train, the recipes' default
    image, mask, pred = _inputs()
    system.discriminator.requires_grad_(False)
    # first the named deviation `hrf_bn: eval` (running statistics), as the fixture did before any
    # train-mode forward moved them: a different loss (the 397 vs 15,601)
    system.hrf_loss.bn = "eval"
    hrf_eval = float(system.generator_losses(image, mask, pred)["hrf_perceptual"].detach())
    assert hrf_eval == pytest.approx(G["hrf_perceptual_bn_eval"], rel=1e-9)
    system.hrf_loss.bn = "train"
    terms = {k: float(v.detach()) for k, v in system.generator_losses(image, mask, pred).items()}
    assert terms["l1"] == pytest.approx(G["l1"], rel=1e-9)
    assert terms["adversarial"] == pytest.approx(G["adversarial"], rel=1e-9)
    assert terms["feature_matching"] == pytest.approx(G["feature_matching"], rel=1e-9)
    # official: PL 1.2.9 trains with the encoder in train mode (batch statistics)
    assert terms["hrf_perceptual"] == pytest.approx(G["hrf_perceptual_bn_train"], rel=1e-9)
    assert hrf_eval > 10 * terms["hrf_perceptual"]


@pytest.mark.slow  # a Lightning fit with the ResNet50 backbone in float64: ~15 s on a loaded 2-core machine
def test_one_generator_and_one_discriminator_step_equal_the_official_ones(encoder_file: Path, tmp_path) -> None:
    system = _system(encoder_file)
    image, mask, pred = _inputs()
    before = {k: v.detach().clone() for k, v in system.discriminator.named_parameters()}
    loader = DataLoader(RepeatedSamples(image, mask), batch_size=len(image))
    trainer = quiet_trainer(tmp_path, 2, enable_checkpointing=False, precision="64-true")
    trainer.fit(system, loader)  # one batch: the generator step, then the discriminator step
    assert trainer.global_step == 2

    probe = parity.smooth_images(FIXTURE["probe_seed"], len(image), FIXTURE["size"]).double() - 0.5
    step = system.generator.pred.detach() - pred
    assert float(trainer.callback_metrics["g_loss"]) == pytest.approx(G["total"], rel=1e-9)
    assert float(step.abs().mean()) == pytest.approx(G["step_abs_mean"], rel=1e-6)
    assert float((step * probe).sum()) == pytest.approx(G["step_dot_probe"], rel=1e-6)

    metrics = trainer.callback_metrics
    assert float(metrics["d_loss"]) == pytest.approx(D["total"], rel=1e-9)
    assert float(metrics["train/d_r1"]) == pytest.approx(D["r1_weighted"], rel=1e-9)
    for name, value in system.discriminator.named_parameters():
        moved = float((value.detach() - before[name]).abs().sum())
        assert moved == pytest.approx(D["param_step_abs_sum"][name], rel=1e-6, abs=1e-9), name
    with torch.no_grad():
        logits, _ = system.discriminator(image)  # train mode: batch statistics
    assert float(logits.mean()) == pytest.approx(D["real_logits_mean_after"], rel=1e-9)
