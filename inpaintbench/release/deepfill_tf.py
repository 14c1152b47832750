"""DeepFill v1's TensorFlow variables -> the PyTorch port's state-dict layout (`deepfill_v1_keys.tsv`).

Names (reference/deepfill_v1.md section 7): `inpaint_net/<tf layer>/{kernel,bias}` where the coarse
network's `convN[_downsample|_atrous]` becomes `coarse_generator.convN...`, the refinement branch's
`xconvN...` becomes `fine_generator.convN...`, `pmconvN...` and `allconvN...` keep their names under
`fine_generator.`, and the upsampling convs (`conv13_upsample/conv13_upsample_conv`, also 15,
allconv13, allconv15) drop the `_upsample` level. Discriminators: `discriminator/discriminator_
{local,global}/convK` -> `{local,global}D.dis_conv_module.convK.conv`, `dout_*_fc` -> `*.linear`.

Tensor layouts: conv kernels are HWIO in TensorFlow and OIHW in PyTorch (`permute(3, 2, 0, 1)`);
a dense kernel is [in, out] over an NHWC flatten, a PyTorch Linear is [out, in] over an NCHW flatten,
so its input axis is reordered (h, w, c) -> (c, h, w).

Channel order: the release was trained on **BGR** images. The weights are kept as released (BGR);
the DeepFill wrapper converts its input and output (inpainter.py contract). `bgr_to_rgb` gives the
equivalent RGB weights (reverse the 3 image input channels of the first convs and the 3 output
channels of the last convs), exact up to float summation order.

Deliberate deviation from the PyTorch port: the TF local discriminator's conv4 has 512 channels
(fc input 8*8*512) where the port has 256; discriminators are converted with their TF shapes and are
only produced on request, because inference needs the generator alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

COARSE_LAYERS = (
    "conv1", "conv2_downsample", "conv3", "conv4_downsample", "conv5", "conv6",
    "conv7_atrous", "conv8_atrous", "conv9_atrous", "conv10_atrous", "conv11", "conv12",
    "conv13_upsample", "conv14", "conv15_upsample", "conv16", "conv17",
)  # fmt: skip
#: refinement branch A (dilated convs), named x<coarse name> in TF and <coarse name> in the port
FINE_CONV_LAYERS = COARSE_LAYERS[:10]
FINE_ATTENTION_LAYERS = (
    "pmconv1", "pmconv2_downsample", "pmconv3", "pmconv4_downsample", "pmconv5", "pmconv6", "pmconv9", "pmconv10",
)  # fmt: skip
FINE_MERGE_LAYERS = (
    "allconv11", "allconv12", "allconv13_upsample", "allconv14", "allconv15_upsample", "allconv16", "allconv17",
)  # fmt: skip

#: first convs see the image channels (0..2 of 5), last convs produce them
IMAGE_INPUT_CONVS = ("coarse_generator.conv1", "fine_generator.conv1", "fine_generator.pmconv1")
IMAGE_OUTPUT_CONVS = ("coarse_generator.conv17", "fine_generator.allconv17")

GENERATOR_SCOPE = "inpaint_net/"
DISCRIMINATOR_SCOPE = "discriminator/"


def _tf_layer_path(layer: str) -> str:
    """Upsampling layers nest their conv one scope deeper: conv13_upsample/conv13_upsample_conv."""
    return f"{layer}/{layer}_conv" if layer.endswith("_upsample") else layer


def _port_layer(layer: str) -> str:
    return layer.removesuffix("_upsample")


def generator_name_map() -> dict[str, str]:
    """TF layer scope (under inpaint_net/) -> port module prefix, for the 42 generator convs."""
    names = {_tf_layer_path(layer): f"coarse_generator.{_port_layer(layer)}" for layer in COARSE_LAYERS}
    names.update({_tf_layer_path("x" + layer): f"fine_generator.{_port_layer(layer)}" for layer in FINE_CONV_LAYERS})
    for layer in FINE_ATTENTION_LAYERS + FINE_MERGE_LAYERS:
        names[_tf_layer_path(layer)] = f"fine_generator.{_port_layer(layer)}"
    return names


def conv_kernel_to_oihw(kernel: np.ndarray) -> Tensor:
    """TF conv kernel [kh, kw, in, out] -> PyTorch [out, in, kh, kw]."""
    if kernel.ndim != 4:
        raise ValueError(f"conv kernel must be 4-D HWIO, got shape {kernel.shape}")
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def dense_kernel_to_linear(kernel: np.ndarray, channels: int) -> Tensor:
    """TF dense kernel [h*w*c, out] over an NHWC flatten -> Linear weight [out, c*h*w] over NCHW."""
    inputs, outputs = kernel.shape
    side = math.isqrt(inputs // channels) if inputs % channels == 0 else 0
    if side * side * channels != inputs:
        raise ValueError(f"dense kernel input {inputs} is not a square map of {channels} channels")
    hwco = kernel.reshape(side, side, channels, outputs)
    return torch.from_numpy(np.ascontiguousarray(hwco.transpose(3, 2, 0, 1).reshape(outputs, inputs)))


def _as_numpy(value: object) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def convert_generator(variables: Mapping[str, object]) -> dict[str, Tensor]:
    """The 84 generator tensors in the port's names and layouts; every expected variable must exist."""
    state: dict[str, Tensor] = {}
    missing = []
    for tf_layer, port in generator_name_map().items():
        for tf_param, port_param in (("kernel", "weight"), ("bias", "bias")):
            name = f"{GENERATOR_SCOPE}{tf_layer}/{tf_param}"
            if name not in variables:
                missing.append(name)
                continue
            value = _as_numpy(variables[name])
            tensor = conv_kernel_to_oihw(value) if tf_param == "kernel" else torch.from_numpy(value.copy())
            state[f"{port}.conv.{port_param}"] = tensor
    if missing:
        shown = ", ".join(missing[:4]) + (f" (+{len(missing) - 4} more)" if len(missing) > 4 else "")
        raise KeyError(f"{len(missing)} DeepFill v1 generator variables missing: {shown}")
    return state


def convert_discriminators(variables: Mapping[str, object]) -> dict[str, Tensor]:
    """Local and global critics, in the port's names but TF's channel counts (see module docstring)."""
    state: dict[str, Tensor] = {}
    for which, prefix in (("local", "localD"), ("global", "globalD")):
        scope = f"{DISCRIMINATOR_SCOPE}discriminator_{which}"
        channels = None
        for k in range(1, 5):
            kernel = variables.get(f"{scope}/conv{k}/kernel")
            if kernel is None:
                continue
            kernel = _as_numpy(kernel)
            channels = kernel.shape[3]
            state[f"{prefix}.dis_conv_module.conv{k}.conv.weight"] = conv_kernel_to_oihw(kernel)
            bias = _as_numpy(variables[f"{scope}/conv{k}/bias"])
            state[f"{prefix}.dis_conv_module.conv{k}.conv.bias"] = torch.from_numpy(bias.copy())
        fc = variables.get(f"{DISCRIMINATOR_SCOPE}dout_{which}_fc/kernel")
        if fc is not None and channels is not None:
            state[f"{prefix}.linear.weight"] = dense_kernel_to_linear(_as_numpy(fc), channels)
            bias = _as_numpy(variables[f"{DISCRIMINATOR_SCOPE}dout_{which}_fc/bias"])
            state[f"{prefix}.linear.bias"] = torch.from_numpy(bias.copy())
    return state


def bgr_to_rgb(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Equivalent weights for RGB input and output (the release is BGR-trained)."""
    out = dict(state)
    for conv in IMAGE_INPUT_CONVS:
        weight = out[f"{conv}.conv.weight"].clone()
        weight[:, :3] = weight[:, [2, 1, 0]]
        out[f"{conv}.conv.weight"] = weight
    for conv in IMAGE_OUTPUT_CONVS:
        out[f"{conv}.conv.weight"] = out[f"{conv}.conv.weight"][[2, 1, 0]].clone()
        out[f"{conv}.conv.bias"] = out[f"{conv}.conv.bias"][[2, 1, 0]].clone()
    return out
