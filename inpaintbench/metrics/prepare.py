"""Inference-time preparation of the metric backbones, done once at load (issue 19).

The published layouts stay what is loaded and hashed; preparation then rewrites the network for
speed without changing what it computes beyond float rounding (checked in tests to 1e-6 relative):

- batch norm folded into the preceding convolution (Inception's `BasicConv2d`: conv -> BN -> ReLU),
  the fold computed in float64 and rounded once to the conv's dtype;
- every conv directly followed by a ReLU (the folded Inception blocks, AlexNet / VGG slices of
  LPIPS) runs as one fused oneDNN convolution with the ReLU applied in its epilogue, on
  channels-last activations with the weight reordered once into oneDNN's blocked layout, when
  the tensor is on the CPU and oneDNN is available; elsewhere (GPU) it is `relu(conv(x))` with the
  same folded weights.

The weight id that keys the feature cache and the run hash (`backbones.extractor_id`) is taken
from the published weights before preparation and kept on the module as `weights_id`, so a
prepared backbone shares cached features, run hashes and golden files with an unprepared one.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.batch_norm import batch_norm_scale_shift
from inpaintbench.metrics.backbones import extractor_id


def _fused_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class ConvReLU(nn.Module):
    """`relu(conv2d(x, weight, bias))`, one fused oneDNN call on the CPU (channels-last)."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: tuple[int, int], padding: tuple[int, int]) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.stride = list(stride)
        self.padding = list(padding)
        self.fused = _fused_available()
        self._packed: dict[tuple[int, ...], Tensor] = {}  # oneDNN-blocked weight per input (C, H, W)

    def __getstate__(self) -> dict:
        """Copies and pickles (spawned ranks) leave the packed weights behind; they are rebuilt on use."""
        return {**self.__dict__, "_packed": {}}

    def _packed_weight(self, x: Tensor) -> Tensor:
        """The weight reordered once into oneDNN's blocked layout for this input size (a per-call
        reorder otherwise; measured 1.0-2.3x per conv, identical outputs)."""
        size = tuple(x.shape[1:])
        if size not in self._packed:
            self._packed[size] = torch._C._nn.mkldnn_reorder_conv2d_weight(
                self.weight.detach().to_mkldnn(), self.padding, self.stride, [1, 1], 1, list(x.shape)
            )
        return self._packed[size]

    def forward(self, x: Tensor) -> Tensor:
        if self.fused and x.device.type == "cpu" and x.dtype == torch.float32:
            x = x.contiguous(memory_format=torch.channels_last)
            return torch.ops.mkldnn._convolution_pointwise(
                x, self._packed_weight(x), self.bias, self.padding, self.stride, [1, 1], 1, "relu", [], ""
            )
        return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding), inplace=True)


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Weight and bias of `bn(conv(x))` as one convolution (eval-mode BN), folded in float64."""
    scale, shift = batch_norm_scale_shift(bn)
    weight = conv.weight.double() * scale[:, None, None, None]
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    return weight.to(conv.weight.dtype), bias.to(conv.weight.dtype)


def _plain_conv(conv: nn.Module) -> bool:
    """A conv the fused kernel covers: 2-D, ungrouped, undilated, zero-padded by numbers."""
    return (
        isinstance(conv, nn.Conv2d)
        and conv.groups == 1
        and tuple(conv.dilation) == (1, 1)
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
    )


def _is_basic_conv(module: nn.Module) -> bool:
    """torchvision's Inception `BasicConv2d`: conv (no bias) -> eval BN -> ReLU."""
    return (
        type(module).__name__ == "BasicConv2d"
        and isinstance(getattr(module, "conv", None), nn.Conv2d)
        and isinstance(getattr(module, "bn", None), nn.BatchNorm2d)
        and _plain_conv(module.conv)
    )


def _fuse_basic_convs(root: nn.Module) -> int:
    count = 0
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if _is_basic_conv(child):
                weight, bias = fold_batch_norm(child.conv, child.bn)
                setattr(parent, name, ConvReLU(weight, bias, child.conv.stride, child.conv.padding))
                count += 1
    return count


def _fuse_sequential_conv_relu(root: nn.Module) -> int:
    """In every `nn.Sequential`, a conv followed by a ReLU becomes one `ConvReLU` (+ an Identity)."""
    count = 0
    for parent in list(root.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in itertools.pairwise(names):
            conv, relu = parent._modules[first], parent._modules[second]
            if _plain_conv(conv) and isinstance(relu, nn.ReLU):
                bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
                parent._modules[first] = ConvReLU(conv.weight, bias, conv.stride, conv.padding)
                parent._modules[second] = nn.Identity()
                count += 1
    return count


def prepare_backbone(module: nn.Module) -> nn.Module:
    """Fold and fuse `module` in place for inference (see the module docstring); returns it.

    A module with nothing to fuse (a test stand-in) is returned unchanged, its id untouched."""
    weights_id = extractor_id(module)
    device = next(module.parameters(), torch.empty(0)).device
    if _fuse_basic_convs(module) + _fuse_sequential_conv_relu(module):
        module.weights_id = weights_id
        module.to(device)
    return module.eval().requires_grad_(False)
