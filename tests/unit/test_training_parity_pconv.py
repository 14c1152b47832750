"""PConv training against the naoto0804 port's own code (fixture) and the paper's parametrisation.

tests/fixtures/training_parity/pconv_port.json was written by the port's net.py/loss.py/train.py step
(make_pconv_port.py beside it, README there) on the seeded weights and inputs of tools/parity.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import recipe_system

from inpaintbench.archs.layers.partial_conv import PartialConv2d
from inpaintbench.training.systems.reconstruction import (
    ReconstructionSystem,
    adam_param_groups,
    weights_parametrisation,
)
from tools import parity

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "training_parity" / "pconv_port.json").read_text())
TERMS = {"valid": "valid", "hole": "hole", "perceptual": "prc", "style": "style", "tv": "tv"}


@pytest.fixture(scope="module")
def port_files(tmp_path_factory) -> tuple[Path, Path]:
    """The seeded port weights as a port release file (`{'n_iter','model','optimizer'}`) and the seeded VGG."""
    from inpaintbench import create_model

    root = tmp_path_factory.mktemp("port")
    model = parity.pconv_port_state_dict(FIXTURE["seed"], create_model("pconv_unet").state_dict())
    release = root / "500000.pth"
    torch.save({"n_iter": 500000, "model": model, "optimizer": {"state": {}, "param_groups": []}}, release)
    vgg = root / "vgg16_seeded.pth"
    torch.save(parity.vgg16_torchvision_state_dict(FIXTURE["seed"], parity.vgg16_pool3_shapes()), vgg)
    return release, vgg


def _batch() -> dict:
    """The fixture's batch, in float64 as it was run (the model is cast to float64 too)."""
    n, size = len(FIXTURE["boxes"]), FIXTURE["size"]
    image = parity.smooth_images(FIXTURE["input_seed"], n, size).double()
    mask = parity.box_holes(n, size, FIXTURE["boxes"]).double()
    return {"image": image, "mask": mask, "id": [str(i) for i in range(n)]}


def _raw_output(system: ReconstructionSystem, batch: dict) -> torch.Tensor:
    """The network's output in normalised space, as the port's model(image, mask) returns it."""
    valid = 1.0 - batch["mask"]
    x = (batch["image"] - parity.IMAGENET_MEAN.double()) / parity.IMAGENET_STD.double() * valid
    return system.generator.net(x, valid)[0]


def _one_step(stage: str, parametrisation: str, port_files: tuple[Path, Path]) -> tuple[dict, torch.Tensor]:
    release, vgg = port_files
    system = recipe_system(
        "pconv_unet",
        stage=stage,
        perceptual_weights=str(vgg),
        init_weights=str(release),
        parametrisation=parametrisation,
        finetune_optimizer="fresh",  # the fixture's step starts a new Adam in both stages
    )
    system.setup("fit")
    system.double().train()
    batch = _batch()
    terms = system.compute_losses(batch)
    with torch.no_grad():
        before = _raw_output(system, batch)
    optimizer = system.configure_optimizers()
    optimizer.zero_grad()
    terms["total"].backward()
    optimizer.step()
    with torch.no_grad():
        delta = (_raw_output(system, batch) - before).abs()
    return {k: float(v.detach()) for k, v in terms.items()}, delta


@pytest.mark.slow  # about a minute per stage: the port's full-width U-Net in float64
@pytest.mark.parametrize("stage", ["finetune", "train"])
def test_terms_and_one_adam_step_equal_the_port_from_its_weights(stage: str, port_files) -> None:
    expected = FIXTURE["stages"][stage]
    assert weights_parametrisation(port_files[0]) == "port"  # what `auto` picks for this file
    terms, delta = _one_step(stage, "auto", port_files)
    for ours, theirs in TERMS.items():
        assert terms[ours] == pytest.approx(expected["terms"][theirs], rel=1e-5), ours
    assert terms["total"] == pytest.approx(expected["total"], rel=1e-5)
    # the step moves the output as the port's own step does
    assert float(delta.mean()) == pytest.approx(expected["step_delta_abs_mean"], rel=1e-3)
    assert float(delta.max()) == pytest.approx(expected["step_delta_abs_max"], rel=1e-2)


@pytest.mark.slow
def test_the_nvidia_parametrisation_would_wreck_the_port_weights(port_files) -> None:
    """The bug the option fixes: Adam in our parametrisation moves a port checkpoint orders of magnitude further."""
    _, delta = _one_step("finetune", "nvidia", port_files)
    assert float(delta.mean()) > 20 * FIXTURE["stages"]["finetune"]["step_delta_abs_mean"]


class _Scaled(torch.nn.Module):
    """W = W_port / s: optimising `original` is training in the port's parametrisation."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return original / self.window

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.window


def _tiny_batch() -> dict:
    image = parity.smooth_images(3, 2, 128).double()
    return {"image": image, "mask": parity.box_holes(2, 128, [[10, 20, 40, 50], [70, 5, 30, 90]]).double()}


def _steps(system: ReconstructionSystem, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        system.compute_losses(_tiny_batch())["total"].backward()
        optimizer.step()


def test_port_parametrisation_takes_the_ports_adam_steps_exactly() -> None:
    """Per-layer lr/(C k²), eps·(C k²) == plain Adam on W_port = C k² W (torch.nn.utils.parametrize)."""
    torch.manual_seed(0)
    ours = recipe_system("pconv_unet_tiny", perceptual_backbone="none", parametrisation="port", lr=1e-3)
    reference = recipe_system("pconv_unet_tiny", perceptual_backbone="none", parametrisation="nvidia", lr=1e-3)
    reference.generator.load_state_dict(ours.generator.state_dict())
    ours.double(), reference.double()  # float64: compare the optimisers, not float32 summation order
    for module in reference.generator.modules():
        if isinstance(module, PartialConv2d):
            torch.nn.utils.parametrize.register_parametrization(module, "weight", _Scaled(module.window_size))
    port_adam = torch.optim.Adam([p for p in reference.generator.parameters() if p.requires_grad], lr=1e-3)
    _steps(ours, ours.configure_optimizers(), 3)
    _steps(reference, port_adam, 3)
    for name, module in ours.generator.named_modules():
        if isinstance(module, PartialConv2d):
            twin = reference.generator.get_submodule(name)
            torch.testing.assert_close(module.weight, twin.weight.detach(), rtol=1e-9, atol=1e-12)


def test_from_scratch_each_layer_steps_as_the_papers_parametrisation() -> None:
    """`auto` without init weights trains the paper's W (eq. 1, NVIDIA): Adam's first step is lr·g/(|g|+eps) in W."""
    torch.manual_seed(0)
    lr, eps = 1e-3, 1e-8
    system = recipe_system("pconv_unet_tiny", perceptual_backbone="none", lr=lr).double()
    assert system.hparams.parametrisation == "nvidia"
    convs = {n: m for n, m in system.generator.named_modules() if isinstance(m, PartialConv2d)}
    before = {n: m.weight.detach().clone() for n, m in convs.items()}
    optimizer = system.configure_optimizers()
    optimizer.zero_grad()
    system.compute_losses(_tiny_batch())["total"].backward()
    grads = {n: m.weight.grad.detach().clone() for n, m in convs.items()}
    optimizer.step()
    for name, module in convs.items():
        step = (module.weight.detach() - before[name]).abs()
        g = grads[name].abs()
        torch.testing.assert_close(step, lr * g / (g + eps), rtol=1e-6, atol=1e-12, msg=name)
        assert float(step[g > 1e-5].min()) > 0.99 * lr, name  # every layer's effective step is lr, C k² aside
    # the port's parametrisation would move enc_1 (C k² = 3·7² = 147) and dec_1 (C k² = (8+3)·9 = 99) less
    groups = {round(1 / g["lr_scale"]): g for g in adam_param_groups(system.generator, "port")}
    assert {147, 99} <= set(groups)


def test_auto_parametrisation_follows_the_weights_origin(tmp_path: Path, port_files) -> None:
    from inpaintbench.convert import convert_release

    converted, card = convert_release(
        recipe_system("pconv_unet", perceptual_backbone="none").generator, "pconv_unet", port_files[0], tmp_path
    )
    assert card["layout"] == "pconv_port"
    assert weights_parametrisation(converted) == "port"
    system = recipe_system("pconv_unet", perceptual_backbone="none", init_weights=str(converted))
    assert system.hparams.parametrisation == "port"  # resolved, so the checkpoint and card record it
    zoo = Path(__file__).parents[2] / "models" / "pconv_unet_tiny.sample_v1.safetensors"
    assert weights_parametrisation(zoo) == "nvidia"
    with pytest.raises(ValueError, match="parametrisation"):
        recipe_system("pconv_unet_tiny", perceptual_backbone="none", parametrisation="naoto")
