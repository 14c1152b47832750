"""Every trainable model config carries its official schedule, and `inpaintbench train` uses its batch size."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"

#: family -> (batch per device, optimiser steps per iteration, iterations): the official code's values
OFFICIAL = {
    "pconv": (16, 1, {"train": 500_000, "finetune": 500_000}),  # naoto0804 train.py; released 500k + 500k
    "rfr": (6, 1, {"train": 400_000, "finetune": 200_000}),  # run.py; README, Paris StreetView
    "lama": (10, 2, {"train": 1_000_000}),  # configs/training data.batch_size; 40 x 25000; G + D per batch
    "deepfill": (16, 6, {"train": 1_000_000}),  # inpaint.yml BATCH_SIZE, MAX_ITERS; 5 critic + 1 G steps
}


def _compose(model: str, *overrides: str):
    with hydra.initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra.compose(config_name="train", overrides=[f"model={model}", *overrides])


@pytest.mark.parametrize("config", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_recipes_carry_the_official_batch_and_schedule(config: str) -> None:
    cfg = _compose(config)
    if "system" not in cfg.model:  # classical baselines: nothing to train
        assert "recipe" not in cfg.model and cfg.batch_size == 4
        return
    family = next(name for name in OFFICIAL if config.startswith(name))
    batch, steps_per_iteration, iterations = OFFICIAL[family]
    recipe = OmegaConf.to_container(cfg.model.recipe)
    assert recipe == {"batch_size": batch, "steps_per_iteration": steps_per_iteration, "iterations": iterations}
    assert cfg.batch_size == batch  # train.yaml takes the recipe's batch per device
    assert _compose(config, "batch_size=3").batch_size == 3


def test_lama_recipes_default_to_the_official_hrf_batchnorm_mode() -> None:
    for name in ("lama_big", "lama_fourier", "lama_tiny"):
        assert _compose(name).model.system.hrf_bn == "train"
