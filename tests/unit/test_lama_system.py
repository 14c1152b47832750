"""LamaSystem: configs, a few GAN steps that fit one batch, and a weights_only checkpoint round trip."""

from __future__ import annotations

import inspect
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import RepeatedSamples, model_config, quiet_trainer
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from inpaintbench import create_model
from inpaintbench.training.systems import lama as lama_system
from inpaintbench.training.systems.base import SYSTEMS
from inpaintbench.weights import WeightsError

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest on a shared CPU


class _StandInBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = torch.relu(self.bn(self.conv(x)))
        return [first, torch.nn.functional.avg_pool2d(first, 2)]


@pytest.fixture
def stand_in_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The named ADE20k backbone resolves to a random-init stand-in (no weight file needed)."""

    def build(name: str, path: object = None) -> nn.Module | None:
        return None if name == "none" else _StandInBackbone()

    monkeypatch.setattr(lama_system, "build_hrf_backbone", build)


def _fixed_samples(n: int = 4, size: int = 32) -> RepeatedSamples:
    """n gradient images with shifted box holes: one batch, repeated by the loader's epochs."""
    generator = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])
    images = (base[None] * torch.rand(n, 3, 1, 1, generator=generator)).clamp(0, 1)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        masks[i, :, 4 + i : 16 + i, 8:20] = 1
    return RepeatedSamples(images, masks)


class _History(L.Callback):
    def __init__(self) -> None:
        self.outputs: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.outputs.append({k: float(v) for k, v in outputs.items()})


def _system(**overrides: object) -> lama_system.LamaSystem:
    cfg = model_config("lama_tiny")
    system_cfg = {k: v for k, v in cfg["system"].items() if k != "name"}
    system_cfg.update(overrides)
    return SYSTEMS.get(cfg["system"]["name"])(arch=cfg["name"], arch_args=cfg["args"], **system_cfg)


def _trainer(tmp_path: Path, steps: int, callbacks: list) -> L.Trainer:
    return quiet_trainer(tmp_path, steps, callbacks=callbacks, deterministic=True)


@pytest.mark.parametrize("name", ["lama_fourier", "lama_big", "lama_tiny"])
def test_model_configs_name_a_registered_model_and_valid_system_arguments(name: str) -> None:
    cfg = OmegaConf.create(model_config(name))
    assert cfg.name == name
    assert cfg.system.name == "lama" and cfg.train_masks.name == "lama_mixed"
    accepted = set(inspect.signature(lama_system.LamaSystem.__init__).parameters)
    assert set(cfg.system) - {"name"} <= accepted
    assert cfg.system.perceptual_backbone in {"ade20k_resnet50dilated", "imagenet_resnet50dilated", "none"}
    if name != "lama_tiny":  # the released recipe
        s = cfg.system
        assert (s.lr, s.lr_discriminator, s.l1_weight_known, s.hrf_perceptual_weight) == (1e-3, 1e-4, 10, 30)
        assert (s.adversarial_weight, s.feature_matching_weight, s.r1_weight) == (10, 100, 1e-3)
        assert s.perceptual_backbone == "ade20k_resnet50dilated"
        assert s.hrf_bn == "train"


def test_missing_hrf_weights_stop_construction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=r"encoder_epoch_20\.pth"):
        _system(perceptual_backbone="ade20k_resnet50dilated")
    system = _system()  # lama_tiny.yaml says `none` explicitly
    assert system.hrf_loss is None
    assert system.loss_weights()["hrf_perceptual[none]"] == 0.0


def test_a_few_steps_on_one_batch_lower_the_loss(tmp_path: Path, stand_in_backbone: None) -> None:
    torch.manual_seed(0)
    system = _system(perceptual_backbone="ade20k_resnet50dilated")
    assert system.loss_weights()["hrf_perceptual[ade20k_resnet50dilated,bn=train]"] == 30.0
    assert system.hrf_loss.bn == "train"  # the official trainer's mode (PL 1.2.9 calls model.train())
    history = _History()
    loader = DataLoader(_fixed_samples(), batch_size=4, shuffle=False)
    _trainer(tmp_path, 16, [history]).fit(system, loader)  # max_steps counts optimiser steps: 2 per batch
    steps = history.outputs
    assert len(steps) == 8
    assert {"l1", "hrf_perceptual", "adversarial", "feature_matching", "d_loss"} <= set(steps[0])
    first, last = steps[0], steps[-1]
    assert last["l1"] < 0.7 * first["l1"]
    assert last["hrf_perceptual"] < first["hrf_perceptual"]
    assert all(torch.isfinite(torch.tensor(list(s.values()))).all() for s in steps)
    assert system.global_step == 16


def test_checkpoint_round_trips_with_weights_only(tmp_path: Path, stand_in_backbone: None) -> None:
    torch.manual_seed(0)
    system = _system(perceptual_backbone="ade20k_resnet50dilated")
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    loader = DataLoader(_fixed_samples(n=2), batch_size=2)
    _trainer(tmp_path, 4, [checkpoints]).fit(system, loader)
    path = tmp_path / "ckpt" / "last.ckpt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = dict(checkpoint["hyper_parameters"])
    assert hparams["arch"] == "lama_tiny" and hparams["perceptual_backbone"] == "ade20k_resnet50dilated"
    assert not any(k.startswith("hrf_loss.") for k in checkpoint["state_dict"])
    assert any(k.startswith("discriminator.") for k in checkpoint["state_dict"])

    rebuilt = SYSTEMS.get("lama")(**hparams)
    rebuilt.on_load_checkpoint(checkpoint)
    rebuilt.load_state_dict(checkpoint["state_dict"], strict=True)
    image, mask = _fixed_samples(n=2)[0]["image"][None], _fixed_samples(n=2)[0]["mask"][None]
    expected = system.generator.eval().inpaint(image, mask)
    torch.testing.assert_close(rebuilt.generator.eval().inpaint(image, mask), expected)

    exported = create_model("lama_tiny")
    exported.load_state_dict(rebuilt.generator_state_dict(), strict=True)
    assert set(rebuilt.generator_state_dict()) == set(exported.state_dict())
