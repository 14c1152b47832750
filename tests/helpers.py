"""Helpers shared by several test modules (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torchvision
from torch import Tensor, nn
from torch.utils.data import Dataset

from tools.release_files import official_keys  # noqa: F401  (the official key lists, shared with tools/)

if TYPE_CHECKING:
    import lightning as L


def model_config(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml composed (its recipe applied) and resolved, as plain containers."""
    from omegaconf import OmegaConf

    from inpaintbench.config import compose

    return OmegaConf.to_container(compose(f"model/{name}").model, resolve=True)  # type: ignore[return-value]


def recipe_system(model: str, arch_args: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The training system of conf/model/<model>.yaml as `train` builds it (its recipe, the one home of
    every loss weight and optimiser setting), with `overrides` on the recipe and optionally other arch args."""
    from inpaintbench.training.train import build_system

    config = model_config(model)
    config["system"] = {**config["system"], **overrides}
    if arch_args is not None:
        config["args"] = arch_args
    return build_system(config)


def torchvision_vgg16_features(seed: int) -> tuple[nn.Sequential, dict[str, Tensor]]:
    """A random-init torchvision VGG16 `features` up to pool3, and its state dict in torchvision's key layout."""
    torch.manual_seed(seed)
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"][:10])  # up to pool3
    return vgg, {f"features.{k}": v for k, v in vgg.state_dict().items()}


class RepeatedSamples(Dataset):
    """`images` (N,3,H,W) and `masks` (N,1,H,W) as contract samples, sample i % N at index i: an overfitting set."""

    def __init__(self, images: Tensor, masks: Tensor, length: int | None = None) -> None:
        self.images, self.masks = images, masks
        self.length = len(images) if length is None else length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = index % len(self.images)
        return {"image": self.images[i], "mask": self.masks[i], "id": f"img{i}"}


def quiet_trainer(tmp_path: Path, max_steps: int, **options: Any) -> L.Trainer:
    """A one-device CPU Trainer without logger, progress bar or model summary; `options` add Trainer arguments."""
    import lightning as L  # only the training tests pay for the import

    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **options,
    )


def tiny_train_cfg(tmp_path: Path, steps: int, tag: str, *extra: str) -> Any:
    """`train` config of pconv_unet_tiny on 96x96 sample crops, writing runs and exports under `tmp_path`."""
    from inpaintbench.config import compose

    return compose(
        "train",
        [
            "model=pconv_unet_tiny",
            "model.system.perceptual_backbone=none",
            "data.resize=none",
            "data.size=96",
            "batch_size=2",
            f"trainer.max_steps={steps}",
            "trainer.checkpoint_every=1",
            f"tag={tag}",
            f"paths.train_runs={tmp_path / 'runs'}",
            f"paths.exports={tmp_path / 'models'}",
            *extra,
        ],
    )
