"""TRAIN_MASKS: the training mask generator of each paper, by the name a model config uses.

Contract: `fn(rng: np.random.Generator, height: int, width: int, **params) -> np.ndarray` of shape
(H, W), dtype uint8, values in {0, 1}, 1 = hole. The data module seeds `rng` per (seed, epoch, index).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from inpaintbench.masks.boxes import box_center, box_random
from inpaintbench.masks.lama import LAMA_TRAIN_BOX, LAMA_TRAIN_IRREGULAR, lama_mixed_mask
from inpaintbench.masks.strokes import irregular_strokes
from inpaintbench.registry import Registry

MaskGenerator = Callable[..., np.ndarray]

TRAIN_MASKS: Registry[MaskGenerator] = Registry("training mask generator")

TRAIN_MASKS.register("irregular_strokes", paper="PConv (Liu 2018) / RFR-Net (Li 2020), NVIDIA-set stand-in")(
    irregular_strokes
)
TRAIN_MASKS.register("box_random", paper="DeepFill v1 (Yu 2018): 128x128 bbox, shrunk 0..16 px per side")(box_random)
TRAIN_MASKS.register("box_center", paper="DeepFill v1 validation: centred 128x128")(box_center)


@TRAIN_MASKS.register("lama_mixed", paper="LaMa (Suvorov 2022): MixedMaskGenerator, 50 % irregular / 50 % box")
def lama_mixed(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    irregular: Mapping[str, Any] | None = None,
    box: Mapping[str, Any] | None = None,
    **probabilities: float,
) -> np.ndarray:
    """LaMa's training mixture; `irregular` / `box` override single keys of the training parameters,
    `probabilities` (irregular_proba, box_proba) are `lama_mixed_mask`'s."""
    return lama_mixed_mask(
        rng,
        height,
        width,
        irregular={**LAMA_TRAIN_IRREGULAR, **dict(irregular or {})},
        box={**LAMA_TRAIN_BOX, **dict(box or {})},
        **probabilities,
    )


def make_train_mask(name: str, rng: np.random.Generator, height: int, width: int, **params: Any) -> np.ndarray:
    """Look up a generator and call it, turning a bad parameter into one clear line."""
    generator = TRAIN_MASKS.get(name)
    try:
        return generator(rng, height, width, **params)
    except TypeError as error:
        raise TypeError(f"training mask generator '{name}': {error}") from None
