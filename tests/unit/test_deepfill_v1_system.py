"""DeepFill v1 training: WGAN-GP terms, spatial discounting, local windows, the 5:1 schedule,
overfitting one batch, checkpoint round trip and the Hydra configs."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import RepeatedSamples, quiet_trainer, recipe_system
from torch import nn
from torch.utils.data import DataLoader

from inpaintbench.losses.wgan import (
    gradient_penalty,
    spatial_discounting_mask,
    wgan_critic_loss,
    wgan_generator_loss,
)
from inpaintbench.model_registry import load_families
from inpaintbench.training.systems.base import SYSTEMS
from inpaintbench.training.systems.deepfill_v1 import DeepFillV1System, crop_windows, hole_windows

REPO = Path(__file__).resolve().parents[2]
SIZE = 32  # training crop of these tests (local window 16)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest on a shared CPU


# --- loss terms ----------------------------------------------------------------------------------


def test_spatial_discounting_matches_the_official_loop() -> None:
    gamma, height, width = 0.9, 12, 10
    ref = torch.empty(height, width, dtype=torch.float64)
    for i in range(height):
        for j in range(width):
            ref[i, j] = max(gamma ** min(i, height - i), gamma ** min(j, width - j))
    got = spatial_discounting_mask(height, width, gamma)
    assert got.shape == (1, 1, height, width)
    torch.testing.assert_close(got[0, 0].double(), ref, atol=1e-7, rtol=0)
    centre = spatial_discounting_mask(128, 128, 0.9)[0, 0, 64, 64]
    assert abs(centre.item() - 0.9**64) < 1e-9  # ~1.2e-3 with the code's gamma


def test_wgan_losses_known_values() -> None:
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[-1.0], [0.5]])
    assert wgan_critic_loss(real, fake).item() == pytest.approx(-0.25 - 2.0)
    assert wgan_generator_loss(fake).item() == pytest.approx(0.25)


class LinearCritic(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so the penalty is known in closed form."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).flatten(1).sum(1, keepdim=True)


def test_gradient_penalty_is_masked_and_summed() -> None:
    torch.manual_seed(0)
    weight = torch.randn(1, 3, 6, 6)
    critic = LinearCritic(weight)
    real, fake = torch.rand(4, 3, 6, 6), torch.rand(4, 3, 6, 6)
    mask = torch.zeros(4, 1, 6, 6)
    mask[:, :, 1:4, 2:5] = 1
    expected = ((weight.square() * mask[:1]).sum().sqrt() - 1) ** 2
    got = gradient_penalty(critic, real, fake, mask)
    torch.testing.assert_close(got, expected)
    unmasked = (weight.square().sum().sqrt() - 1) ** 2
    torch.testing.assert_close(gradient_penalty(critic, real, fake), unmasked)
    got.backward()  # the penalty trains the critic
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0
    # an empty hole gives a finite penalty gradient (the sqrt guard)
    critic.zero_grad()
    gradient_penalty(critic, real, fake, torch.zeros_like(mask)).backward()
    assert torch.isfinite(critic.weight.grad).all()


# --- local critic windows ------------------------------------------------------------------------


def official_box_mask(top: int, left: int, dh: int, dw: int, size: int = 256) -> torch.Tensor:
    """The TF training mask: a (size/2)^2 bbox with the hole shrunk by dh, dw on each side."""
    mask = torch.zeros(1, 1, size, size)
    half = size // 2
    mask[..., top + dh : top + half - dh, left + dw : left + half - dw] = 1
    return mask


def test_windows_recover_the_official_bbox() -> None:
    for top, left, dh, dw in [(0, 0, 0, 0), (127, 5, 15, 3), (40, 100, 7, 16), (64, 64, 1, 0)]:
        assert hole_windows(official_box_mask(top, left, dh, dw), (128, 128)) == [(top, left, 128, 128)]


def test_windows_for_small_large_and_empty_holes() -> None:
    mask = torch.zeros(3, 1, 64, 64)
    mask[0, :, 60:64, 0:3] = 1  # small hole in a corner: window clamped into the image
    mask[1, :, 2:50, 10:12] = 1  # taller than the window: its own extent on that axis
    boxes = hole_windows(mask, (32, 32))
    assert boxes[0] == (32, 0, 32, 32)
    assert boxes[1] == (2, 0, 48, 32)
    assert boxes[2] == (16, 16, 32, 32)  # empty mask: the centre
    crops = crop_windows(mask, boxes, (32, 32))
    assert crops.shape == (3, 1, 32, 32)
    assert torch.equal(crops[0], mask[0, :, 32:64, 0:32])


# --- the system ----------------------------------------------------------------------------------


def fixed_samples(n: int = 2) -> RepeatedSamples:
    """The same few striped samples over and over: an overfitting set."""
    gen = torch.Generator().manual_seed(0)
    _, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    stripes = (torch.sin(xx / 2.0) * 0.4 + 0.5).expand(3, SIZE, SIZE)
    images = (stripes + 0.05 * torch.rand(n, 3, SIZE, SIZE, generator=gen)).clamp(0, 1)
    masks = torch.zeros(n, 1, SIZE, SIZE)
    for i in range(n):
        masks[i, :, 6 + 2 * i : 18 + 2 * i, 8:20] = 1
    return RepeatedSamples(images, masks, length=10_000)


def make_system(**overrides) -> DeepFillV1System:
    load_families()
    args = {"image_size": SIZE, "critic_cnum": 4, **overrides}
    return recipe_system("deepfill_v1_tiny", arch_args={"cnum": 4}, **args)


def loader(n: int = 2) -> DataLoader:
    return DataLoader(fixed_samples(n), batch_size=n, shuffle=False)


class UpdateRecorder(L.Callback):
    """After every training batch: which of generator / critics changed."""

    def __init__(self) -> None:
        self.updates: list[tuple[bool, bool]] = []
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    @staticmethod
    def _flat(module: nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in module.parameters()])

    def _snapshot(self, system: DeepFillV1System) -> tuple[torch.Tensor, torch.Tensor]:
        critics = torch.cat([self._flat(system.global_critic), self._flat(system.local_critic)])
        return self._flat(system.generator), critics

    def on_train_start(self, trainer: L.Trainer, system: DeepFillV1System) -> None:
        self._last = self._snapshot(system)

    def on_train_batch_end(self, trainer: L.Trainer, system: DeepFillV1System, *args) -> None:
        now = self._snapshot(system)
        self.updates.append((not torch.equal(now[0], self._last[0]), not torch.equal(now[1], self._last[1])))
        self._last = now


def test_five_critic_steps_then_one_generator_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    recorder = UpdateRecorder()
    trainer = quiet_trainer(tmp_path, 12, enable_checkpointing=False, callbacks=[recorder])
    trainer.fit(make_system(), loader())
    critic_step, generator_step = (False, True), (True, False)
    assert recorder.updates == ([critic_step] * 5 + [generator_step]) * 2
    assert trainer.global_step == 12  # every optimizer step counts


def test_overfits_one_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    system = make_system(lr=2e-3, critic_steps=1)
    data = fixed_samples(2)
    real = system.generator.to_network(data.images)

    def reconstruction() -> float:
        with torch.no_grad():
            losses = system.generator_losses(real, data.masks)
        return (losses["l1"] + losses["ae"]).item()

    before = reconstruction()
    quiet_trainer(tmp_path, 60, enable_checkpointing=False).fit(system, loader())
    after = reconstruction()
    assert after < 0.7 * before, (before, after)


def test_checkpoint_round_trip_with_weights_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    system = make_system()
    trainer = quiet_trainer(tmp_path, 7, enable_checkpointing=False)
    trainer.fit(system, loader())
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    hparams = dict(ckpt["hyper_parameters"])
    assert hparams["arch"] == "deepfill_v1_tiny" and hparams["perceptual_backbone"] == "none"
    rebuilt = SYSTEMS.get("deepfill_v1")(**hparams)
    rebuilt.load_state_dict(ckpt["state_dict"], strict=True)
    assert ckpt["global_step"] == 7  # the 5:1 cycle resumes from here
    optimizers = rebuilt.configure_optimizers()  # adam: tf, one step count shared by G and D, restored
    for optimizer, state in zip(optimizers, ckpt["optimizer_states"], strict=True):
        optimizer.load_state_dict(state)
    assert optimizers[0].counter is optimizers[1].counter and optimizers[0].counter.value == 7
    image, mask = fixed_samples(2).images, fixed_samples(2).masks
    assert torch.equal(rebuilt.generator.inpaint(image, mask), system.generator.inpaint(image, mask))
    assert rebuilt.loss_weights() == system.loss_weights()


def test_rejects_a_perceptual_backbone() -> None:
    with pytest.raises(ValueError, match="no perceptual loss"):
        make_system(perceptual_backbone="vgg16")


@pytest.mark.parametrize("name", ["deepfill_v1", "deepfill_v1_tiny"])
def test_model_configs_compose_and_build(name: str) -> None:
    hydra = pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    with hydra.initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra.compose(config_name=f"model/{name}")
    model_cfg = cfg.model
    assert model_cfg.name == name and model_cfg.train_masks.name == "box_random"
    system_cfg = OmegaConf.to_container(model_cfg.system)
    assert system_cfg.pop("name") == "deepfill_v1"
    system_cfg["image_size"] = SIZE  # the recipe, on small crops
    system = SYSTEMS.get("deepfill_v1")(arch=model_cfg.name, arch_args=dict(model_cfg.args), **system_cfg)
    assert system.loss_weights() == pytest.approx(
        {
            "l1_discounted_stage1": 1.44,
            "l1_discounted_stage2": 1.2,
            "ae_known_stage1": 1.44,
            "ae_known_stage2": 1.2,
            "wgan_global": 0.001,
            "wgan_local": 0.001,
            "gradient_penalty": 10.0,
            "perceptual": 0.0,
        }
    )
    assert system.hparams.lr == 1e-4 and (system.hparams.beta1, system.hparams.beta2) == (0.5, 0.9)
    assert system.hparams.critic_steps == 5 and system.hparams.discount_gamma == 0.9
