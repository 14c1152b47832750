"""Seeded variables and inputs of the DeepFill v1 training-parity fixture (numpy only).

Shared by `fixtures/training_parity/make_deepfill_official.py`, which runs the official TensorFlow
graph in a scratch environment without torch, and by the test that runs our system on the same
values. Every variable is drawn from its own numpy generator seeded by (seed, its TF variable name),
so both sides get identical values whatever order they create them in.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

SEED = 41
IMAGE_SEED = 43
SIZE = 64  # IMG_SHAPES of the fixture; the local window (HEIGHT, WIDTH) is half of it, as in inpaint.yml
BATCH = 2
BBOX = (10, 20, SIZE // 2, SIZE // 2)  # random_bbox's (top, left, height, width), fixed
SHRINK = (3, 2)  # bbox2mask's random (h, w) margins, fixed: the hole is the bbox less 3 rows / 2 cols each side
ALPHAS = {"local": (0.25, 0.7), "global": (0.6, 0.15)}  # random_interpolates' per-sample alphas, fixed
LR = 1e-4  # train.py: AdamOptimizer(1e-4, beta1=0.5, beta2=0.9)


def seeded_variable(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """float32 value for the TF variable `name`: kernels N(0, 2/fan_in) (HWIO or dense [in, out]), biases N(0, 0.1²)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    noise = rng.standard_normal(shape)
    if len(shape) >= 2:
        fan_in = math.prod(shape[:-1])
        return (noise * math.sqrt(2.0 / fan_in)).astype(np.float32)
    return (0.1 * noise).astype(np.float32)


def probe(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A fixed direction for variable `name`: a step's projection on it summarises the step's pattern."""
    return seeded_variable(seed + 1, name, shape)


def images_uint8() -> np.ndarray:
    """(BATCH, SIZE, SIZE, 3) uint8: smooth images (8x coarser noise, upsampled by linear interpolation)."""
    rng = np.random.default_rng(IMAGE_SEED)
    coarse = rng.uniform(0.0, 255.0, size=(BATCH, SIZE // 8 + 1, SIZE // 8 + 1, 3))
    grid = np.linspace(0.0, SIZE // 8, SIZE)
    lo = np.minimum(np.floor(grid).astype(int), SIZE // 8 - 1)
    frac = grid - lo
    rows = coarse[:, lo] * (1 - frac)[None, :, None, None] + coarse[:, lo + 1] * frac[None, :, None, None]
    full = rows[:, :, lo] * (1 - frac)[None, None, :, None] + rows[:, :, lo + 1] * frac[None, None, :, None]
    return np.round(full).astype(np.uint8)


def hole_mask() -> np.ndarray:
    """(1, SIZE, SIZE, 1) float32, 1 = hole: the official `bbox2mask` with the fixed margins."""
    top, left, height, width = BBOX
    dh, dw = SHRINK
    mask = np.zeros((1, SIZE, SIZE, 1), np.float32)
    mask[:, top + dh : top + height - dh, left + dw : left + width - dw, :] = 1.0
    return mask
