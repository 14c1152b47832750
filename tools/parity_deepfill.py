"""Seeded variables and inputs of the DeepFill v1 training-parity fixture (numpy only).

Shared by `fixtures/training_parity/make_deepfill_official.py`, which runs the official TensorFlow
graph in a scratch environment without torch, and by the test that runs our system on the same
values. Every variable is drawn from its own numpy generator seeded by (seed, its TF variable name),
so both sides get identical values whatever order they create them in.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import sys
import types
import zlib
from pathlib import Path

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


def install_tf1_shims(tf: types.ModuleType, neuralgym_dir: Path) -> None:
    """Make the TF1 imports of the official code and neuralgym resolve under TF 2.21: `tf.contrib`'s
    arg_scope and layers, neuralgym's summaries as no-ops, no OpenCV. Nothing in the graph changes.
    Used by the training fixture (tests/fixtures/training_parity/make_deepfill_official.py) and the
    speed benchmark (tools/benchmarks/deepfill_vs_tensorflow.py)."""
    scopes: list[dict] = [{}]

    def add_arg_scope(func):
        def wrapper(*args, **kwargs):
            defaults = scopes[-1].get(wrapper, {})
            return func(*args, **{**defaults, **kwargs})

        return wrapper

    @contextlib.contextmanager
    def arg_scope(funcs, **kwargs):
        current = {f: dict(v) for f, v in scopes[-1].items()}
        for f in funcs:
            current[f] = {**current.get(f, {}), **kwargs}
        scopes.append(current)
        try:
            yield
        finally:
            scopes.pop()

    contrib_ops = types.ModuleType("tensorflow.contrib.framework.python.ops")
    contrib_ops.add_arg_scope, contrib_ops.arg_scope = add_arg_scope, arg_scope
    for name in ("tensorflow.contrib", "tensorflow.contrib.framework", "tensorflow.contrib.framework.python"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["tensorflow.contrib.framework.python.ops"] = contrib_ops
    contrib_layers = types.SimpleNamespace(
        flatten=lambda x: tf.reshape(x, [x.shape[0], -1]),
        xavier_initializer_conv2d=tf.glorot_uniform_initializer,  # a default argument of an unused layer
    )
    tf.contrib = types.SimpleNamespace(layers=contrib_layers)
    sys.modules["tensorflow"] = tf
    if importlib.util.find_spec("cv2") is None:  # neuralgym imports it; the project's baselines need the real one
        sys.modules["cv2"] = types.ModuleType("cv2")

    package = types.ModuleType("neuralgym")
    package.__path__ = [str(neuralgym_dir / "neuralgym")]
    ops = types.ModuleType("neuralgym.ops")
    ops.__path__ = [str(neuralgym_dir / "neuralgym" / "ops")]
    summary = types.ModuleType("neuralgym.ops.summary_ops")
    for name in ("scalar_summary", "images_summary", "gradients_summary", "filters_summary"):
        setattr(summary, name, lambda *a, **k: None)
    summary.__all__ = ["scalar_summary", "images_summary", "gradients_summary", "filters_summary"]
    sys.modules.update({"neuralgym": package, "neuralgym.ops": ops, "neuralgym.ops.summary_ops": summary})
