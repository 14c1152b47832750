"""RFR-Net's recipe against the official `model.py`: every loss term and one Adam step (fixture).

tests/fixtures/training_parity/rfr_official.json was written by the official `RFRNetModel.get_g_loss`
and `update_G` (make_rfr_official.py beside it, README there) on the seeded VGG16 of tests/parity.py, in
float64, with a learnable prediction as the generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import parity
import pytest
import torch

from inpaintbench.training.systems.rfr import RFRSystem

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "training_parity" / "rfr_official.json").read_text())


def test_terms_and_one_adam_step_equal_the_official_model_py(tmp_path: Path) -> None:
    vgg = tmp_path / "vgg16_seeded.pth"
    torch.save(parity.vgg16_torchvision_state_dict(FIXTURE["seed"], parity.vgg16_pool3_shapes()), vgg)
    system = RFRSystem("rfr_net_tiny", perceptual_weights=str(vgg), lr=FIXTURE["lr"])  # the recipe's defaults
    n, size = len(FIXTURE["boxes"]), FIXTURE["size"]
    image = parity.smooth_images(FIXTURE["image_seed"], n, size).double()
    mask = parity.box_holes(n, size, FIXTURE["boxes"]).double()
    pred = parity.smooth_images(FIXTURE["pred_seed"], n, size).double()
    system.generator = parity.LearnedImage(pred)
    system.double().train()

    optimizer = system.configure_optimizers()
    optimizer.zero_grad()
    terms = system.compute_losses({"image": image, "mask": mask})
    for name, expected in FIXTURE["terms"].items():
        assert float(terms[name].detach()) == pytest.approx(expected, rel=1e-9), name
    assert float(terms["total"].detach()) == pytest.approx(FIXTURE["total"], rel=1e-9)
    terms["total"].backward()
    assert float(system.generator.pred.grad.norm()) == pytest.approx(FIXTURE["grad_norm"], rel=1e-9)
    optimizer.step()
    step = system.generator.pred.detach() - pred
    probe = parity.smooth_images(FIXTURE["probe_seed"], n, size).double() - 0.5
    assert float(step.abs().mean()) == pytest.approx(FIXTURE["step_abs_mean"], rel=1e-6)
    assert float((step * probe).sum()) == pytest.approx(FIXTURE["step_dot_probe"], rel=1e-6)
