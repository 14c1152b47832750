"""RFR-Net's recipe against the official `model.py`: every loss term and one Adam step (fixture).

tests/fixtures/training_parity/rfr_official.json was written by the official `RFRNetModel.get_g_loss`
and `update_G` (make_rfr_official.py beside it, README there) on the seeded VGG16 of tools/parity.py, in
float64, with a learnable prediction as the generator, and (slow) one step of the full official generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import recipe_system

from tools import parity

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "training_parity" / "rfr_official.json").read_text())


def test_terms_and_one_adam_step_equal_the_official_model_py(tmp_path: Path) -> None:
    vgg = tmp_path / "vgg16_seeded.pth"
    torch.save(parity.vgg16_torchvision_state_dict(FIXTURE["seed"], parity.vgg16_pool3_shapes()), vgg)
    system = recipe_system("rfr_net_tiny", perceptual_weights=str(vgg), lr=FIXTURE["lr"])  # conf/recipe/rfr.yaml
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


@pytest.mark.slow  # the full 31M-parameter network in float64: ~40 s on 2 loaded cores
def test_one_generator_step_of_the_full_network_equals_the_official_update_g(tmp_path: Path) -> None:
    """The official RFRNet generator (seeded by key, train mode): loss, gradient, Adam step, BN statistics."""
    official = FIXTURE["generator_step"]
    vgg = tmp_path / "vgg16_seeded.pth"
    torch.save(parity.vgg16_torchvision_state_dict(FIXTURE["seed"], parity.vgg16_pool3_shapes()), vgg)
    system = recipe_system("rfr_net", perceptual_weights=str(vgg), lr=FIXTURE["lr"])  # the full official network
    generator = system.generator
    generator.load_state_dict(parity.seeded_state_dict(official["generator_seed"], generator.state_dict()))
    system.double().train()
    n, size = len(FIXTURE["boxes"]), FIXTURE["size"]
    image = parity.smooth_images(FIXTURE["image_seed"], n, size).double()
    mask = parity.box_holes(n, size, FIXTURE["boxes"]).double()

    optimizer = system.configure_optimizers()
    before = {k: p.detach().clone() for k, p in generator.named_parameters()}
    optimizer.zero_grad()
    total = system.compute_losses({"image": image, "mask": mask})["total"]
    running = sum(
        float(v.sum()) for k, v in generator.state_dict().items() if k.endswith(("running_mean", "running_var"))
    )
    total.backward()
    grad_norm = float(torch.sqrt(sum(p.grad.square().sum() for p in generator.parameters())))
    optimizer.step()
    steps = {k: p.detach() - before[k] for k, p in generator.named_parameters()}
    dot = sum(float((s * parity.seeded_tensor(FIXTURE["probe_seed"], k, s)).sum()) for k, s in steps.items())

    assert float(total.detach()) == pytest.approx(official["total"], rel=1e-9)
    assert grad_norm == pytest.approx(official["grad_norm"], rel=1e-9)
    assert running == pytest.approx(official["bn_running_sum_after_forward"], rel=1e-10)
    # Adam's first step is ~lr·g/(|g| + eps): weights whose gradient is at rounding level (|g| ~ eps) take
    # step sizes that differ between two float64 runs; over 31M weights that adds up to < one weight's lr.
    lr = FIXTURE["lr"]
    assert sum(float(s.abs().sum()) for s in steps.values()) == pytest.approx(official["step_abs_sum"], abs=lr)
    assert dot == pytest.approx(official["step_dot_probe"], abs=lr)
    after = system.compute_losses({"image": image, "mask": mask})["total"]
    change = official["total"] - official["total_after"]  # the step's effect; equal to 1e-6 of it (same cause)
    assert float(after.detach()) == pytest.approx(official["total_after"], abs=1e-6 * abs(change))
