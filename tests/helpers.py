"""Helpers shared by several test modules (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import MappingProxyType

import torch
import torchvision
from torch import Tensor, nn

#: One copy of each shared/reference/<name>_keys.tsv: the exact official state-dict keys and shapes.
KEYS_DIR = Path(__file__).resolve().parent / "fixtures" / "keys"


@cache
def _read_keys(name: str) -> MappingProxyType[str, tuple[int, ...]]:
    path = KEYS_DIR / f"{name}_keys.tsv"
    header, *rows = path.read_text().splitlines()
    assert header == "key\tshape", f"{path}: unexpected header {header!r}"
    keys = {}
    for row in rows:
        key, shape = row.split("\t")
        dims = shape.strip().strip("[]")
        keys[key] = tuple(int(d) for d in dims.split(",")) if dims else ()
    return MappingProxyType(keys)


def official_keys(name: str) -> dict[str, tuple[int, ...]]:
    """key -> shape of tests/fixtures/keys/<name>_keys.tsv, in file order (deepfill_v1, lama_big,
    lama_discriminator, lama_fourier, pconv, rfrnet); `()` for scalars. A fresh dict per call."""
    return dict(_read_keys(name))


def torchvision_vgg16_features(seed: int) -> tuple[nn.Sequential, dict[str, Tensor]]:
    """A random-init torchvision VGG16 `features` up to pool3, and its state dict in torchvision's key layout."""
    torch.manual_seed(seed)
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"][:10])  # up to pool3
    return vgg, {f"features.{k}": v for k, v in vgg.state_dict().items()}
