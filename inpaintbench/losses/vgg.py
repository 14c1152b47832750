"""Frozen ImageNet VGG16 feature taps for perceptual and style losses (PConv, RFR-Net).

The network is torchvision's `vgg16().features` (the "D" configuration, max pooling), built here up
to the deepest requested tap. Weights come only from a file: by default torchvision's published
`vgg16-397923af.pth` in the torch hub cache (`$TORCH_HOME/hub/checkpoints/`, hash prefix checked),
read through `inpaintbench.weights` (weights_only). Nothing is downloaded. The convolution weights
are stored as *non-persistent buffers*: they move with `.to(device)`, never train, and stay out of
every state dict and Lightning checkpoint (which therefore does not carry 60 MB of VGG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.weights import WeightsError, read_checkpoint

__all__ = [
    "PERCEPTUAL_BACKBONES",
    "VGG16_FILE",
    "VGG16_LAYERS",
    "VGG16_SHA256_PREFIX",
    "VGG16Features",
    "build_perceptual_backbone",
    "build_vgg16_features",
    "hub_checkpoint_path",
]

VGG16_FILE = "vgg16-397923af.pth"
VGG16_SHA256_PREFIX = "397923af"
#: What a reconstruction recipe's `perceptual_backbone` may name; `none` disables perceptual and style.
PERCEPTUAL_BACKBONES = ("vgg16", "none")

#: torchvision VGG16 "D": conv widths, "M" = 2x2 max pool.
_VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    """Tap name -> index in `torchvision.models.vgg16().features` (conv1_1=0, relu1_1=1, ..., pool5=30)."""
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in _VGG16_CONFIG:
        if item == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index, conv = index + 2, conv + 1
    return names


VGG16_LAYERS: dict[str, int] = _layer_names()


def hub_checkpoint_path(file_name: str) -> Path:
    """Where torch hub keeps a published checkpoint: `$TORCH_HOME/hub/checkpoints/<file_name>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


class VGG16Features(nn.Module):
    """`forward(x) -> [features at each tap]`; taps by name (`pool1`, `relu2_2`, ...) in network order."""

    def __init__(self, layers: Sequence[str] = ("pool1", "pool2", "pool3")) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layers {unknown or '(none given)'}; known: {', '.join(VGG16_LAYERS)}")
        self.layers = tuple(layers)
        self._tap_index = sorted({VGG16_LAYERS[name] for name in self.layers})
        self._ops: list[tuple[str, int]] = []  # (kind, torchvision index) up to the deepest tap
        in_channels, index = 3, 0
        for item in _VGG16_CONFIG:
            if index > self._tap_index[-1]:
                break
            if item == "M":
                self._ops.append(("pool", index))
                index += 1
                continue
            self.register_buffer(f"weight_{index}", torch.empty(int(item), in_channels, 3, 3), persistent=False)
            self.register_buffer(f"bias_{index}", torch.zeros(int(item)), persistent=False)
            self._ops += [("conv", index), ("relu", index + 1)]
            in_channels, index = int(item), index + 2
        self._ops = [op for op in self._ops if op[1] <= self._tap_index[-1]]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random init (torchvision's scheme); used only by stand-ins in tests until weights are loaded."""
        for kind, index in self._ops:
            if kind == "conv":
                nn.init.kaiming_normal_(getattr(self, f"weight_{index}"), mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(getattr(self, f"bias_{index}"))

    def torchvision_keys(self) -> list[str]:
        return [f"features.{i}.{kind}" for op, i in self._ops if op == "conv" for kind in ("weight", "bias")]

    def load_torchvision_state_dict(self, state_dict: Mapping[str, Tensor], source: str | Path = "<memory>") -> None:
        """Copy `features.<i>.{weight,bias}` of a torchvision VGG16 state dict; other keys are ignored."""
        missing = [key for key in self.torchvision_keys() if key not in state_dict]
        if missing:
            raise WeightsError(f"{source}: not a torchvision VGG16 state dict (missing {', '.join(missing[:4])})")
        for key in self.torchvision_keys():
            _, index, kind = key.split(".")
            target = getattr(self, f"{kind}_{index}")
            value = state_dict[key]
            if tuple(value.shape) != tuple(target.shape):
                raise WeightsError(f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
            target.copy_(value)

    def forward(self, x: Tensor) -> list[Tensor]:
        taps: dict[int, Tensor] = {}
        wanted = set(self._tap_index)
        for kind, index in self._ops:
            if kind == "conv":
                x = F.conv2d(x, getattr(self, f"weight_{index}"), getattr(self, f"bias_{index}"), padding=1)
            elif kind == "relu":
                x = F.relu(x)
            else:
                x = F.max_pool2d(x, 2, 2)
            if index in wanted:
                taps[index] = x
        return [taps[VGG16_LAYERS[name]] for name in self.layers]


def build_vgg16_features(
    layers: Sequence[str] = ("pool1", "pool2", "pool3"),
    weights: str | Path | None = None,
    sha256: str | None = None,
) -> VGG16Features:
    """ImageNet VGG16 taps, frozen. `weights=None` reads the hub cache file with its hash prefix checked;
    an explicit path is read as given (with `sha256` checked when set)."""
    if weights is None:
        path = hub_checkpoint_path(VGG16_FILE)
        sha256 = sha256 or VGG16_SHA256_PREFIX
        if not path.is_file():
            raise WeightsError(
                f"{path}: VGG16 ImageNet weights for the perceptual/style losses are missing; place torchvision's "
                f"{VGG16_FILE} there (or set TORCH_HOME), or set the perceptual backbone to 'none' explicitly "
                "(model.system.perceptual_backbone=none)"
            )
    else:
        path = Path(weights)
    raw = read_checkpoint(path, sha256=sha256)
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise WeightsError(f"{path}: expected a VGG16 state dict, found {type(raw).__name__}")
    features = VGG16Features(layers)
    with torch.no_grad():
        features.load_torchvision_state_dict(raw, path)
    return features  # no mode-dependent layers: train/eval makes no difference


def build_perceptual_backbone(
    name: str,
    layers: Sequence[str] = ("pool1", "pool2", "pool3"),
    weights: str | Path | None = None,
) -> VGG16Features | None:
    """A recipe's `perceptual_backbone` choice: `vgg16` -> frozen ImageNet taps, `none` -> None (terms off)."""
    if name not in PERCEPTUAL_BACKBONES:
        raise ValueError(
            f"unknown perceptual backbone '{name}' (perceptual_backbone known: {', '.join(PERCEPTUAL_BACKBONES)})"
        )
    return build_vgg16_features(layers, weights=weights) if name == "vgg16" else None
