"""DeepFill v1 (Yu et al., CVPR 2018, "Generative Image Inpainting with Contextual Attention").

A coarse network of plain and dilated convolutions, then a refinement network whose dilated-conv
branch and contextual-attention branch are concatenated; global and local WGAN-GP critics train it
(see `inpaintbench.training.systems.deepfill_v1`). Layer names are the official TensorFlow v1.0.0 names
(reference/deepfill_v1.md section 2), so `coarse.conv4_downsample` is TF `conv4_downsample`.

Official inference conventions (TF `test.py`), applied inside `DeepFillV1.predict`:
- channels **BGR** (the released weights were trained on cv2-read images); we flip RGB <-> BGR;
- range [-1, 1] (`x / 127.5 - 1`); mask 1 = hole; input `cat[x·(1-m), ones, ones·m]` (5 channels);
- output of conv17 / allconv17: no activation, **clipped to [-1, 1]**; mapped back to [0, 1];
- sizes: multiples of 8. The official script crops the input to the 8-grid from the top-left; our
  contract returns the input size, so we **pad bottom/right by reflection** (`pad_mode = "reflect"`)
  and crop back; on 8-aligned sizes the two agree.
- every stride-2 convolution pads TF 'SAME' (0/1 for k3, 1/2 for k5), see `layers.tf_padding`;
  upsampling is nearest x2 (TF align_corners=True is exact pixel duplication for n -> 2n);
  the contextual-attention mask is the hole mask resized to conv6's size with TF nearest
  (align_corners=True), as `resize_mask_like`.

Parameters: the full generator (cnum 32) has 3,601,542 parameters, as measured for the released
v1.0.0 graph; the paper's "2.9M" does not match the released code. `deepfill_v1_tiny` is cnum 8.

Checkpoint layouts. Ours: `coarse.<tf name>.{weight,bias}` and `refine.<tf name>.{weight,bias}`.
`checkpoint_filter_fn` converts the widely used PyTorch port's layout (daa233
generative-inpainting-pytorch, `reference/deepfill_v1_keys.tsv`; `gen_*.pt`, optionally with a
`netG.` prefix and with `localD.*` / `globalD.*` entries, which are dropped) and passes our own layout
through. Port -> ours: `coarse_generator.<l>.conv.*` -> `coarse.<l>.*` except conv13 / conv15 ->
conv13_upsample / conv15_upsample; `fine_generator.convN[_suffix]` -> `refine.xconvN[_suffix]`;
`fine_generator.pmconvN*` -> `refine.pmconvN*`; `fine_generator.allconvN` -> `refine.allconvN`
with `_upsample` for 13 and 15.

TF checkpoint -> port layout (for chaining a TensorBundle reader, `port_key_to_tf_name` gives it):
- `inpaint_net/<tf name>/kernel|bias` -> `<coarse_generator|fine_generator>.<port name>.conv.weight|bias`,
  where the port name is the TF name with the `x` of `xconvN` dropped and `_upsample` dropped for
  conv13/15/allconv13/allconv15, whose TF variables sit one level deeper:
  `inpaint_net/conv13_upsample/conv13_upsample_conv/kernel`. TF names `conv*` are the coarse network,
  `xconv*`, `pmconv*`, `allconv*` the refinement network.
- kernels are HWIO: `permute(3, 2, 0, 1)` gives OIHW; biases are unchanged. `tf_to_port_state_dict`
  does this, and `checkpoint_filter_fn` also accepts a dict keyed by TF variable names.
- the discriminators (`discriminator/discriminator_{local,global}/conv{1..4}`, `dout_*_fc`) are not
  part of the generator; note the port's local critic has 256 channels in conv4, TF's 512.
- channel order: TF weights (and port dicts converted from them) expect BGR, which is what our
  network is fed, so nothing is permuted. Checkpoints trained by the port itself expect RGB: build
  the model with `checkpoint_channel_order="rgb"` and the converter reverses the 3 image input
  channels of conv1 / xconv1 / pmconv1 and the 3 outputs of conv17 / allconv17 (exact).

Deliberate deviations from the official code:
- contextual attention uses each sample's own mask (official: the batch's first mask for all);
- any H x W is accepted through reflect padding to a multiple of 8 (official: top-left crop);
- the flow visualisation (`flow_to_image` of the attention argmax) is not drawn; `generate(...,
  return_offsets=True)` returns the raw argmax offsets instead.

Inference-only fast paths (issue 19; taken without autograd, the plain path runs when gradients
flow; tests/unit/test_inference_fast_paths.py): TF 'SAME' padding zeroes only the border
(`layers.tf_padding`), the attention propagation adds shifted slices in place
(`layers.contextual_attention`): the same values bit for bit. A prepared model runs a CPU batch one
sample at a time (`cpu_micro_batch`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.contextual_attention import ContextualAttention, resize_nearest_tf
from inpaintbench.archs.layers.micro_batch import micro_batched
from inpaintbench.archs.layers.tf_padding import Conv2dSame
from inpaintbench.inpainter import LearnedInpainter
from inpaintbench.model_registry import register_model
from inpaintbench.release.layout import ReleaseLayout, TFVariables, flat_tensors, register
from inpaintbench.release.pretrained import Release, register_releases

_ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "none": nn.Identity}
_PORT_PREFIXES = ("coarse_generator.", "fine_generator.")
_RGB_INPUT_LAYERS = ("coarse.conv1", "refine.xconv1", "refine.pmconv1")
_RGB_OUTPUT_LAYERS = ("coarse.conv17", "refine.allconv17")


class GenConv(Conv2dSame):
    """`gen_conv`: convolution with bias, TF 'SAME' padding, then ELU (or the given activation)."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1, activation: str = "elu"
    ) -> None:
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation)
        self.activation = _ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(super().forward(x))


class GenDeconv(GenConv):
    """`gen_deconv`: nearest x2 upsampling (align_corners: pixel duplication), then a 3x3 gen_conv."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class CoarseNetwork(nn.Module):
    """Stage 1: an encoder to 1/4, four dilated convs (2, 4, 8, 16), a decoder back to full size."""

    def __init__(self, cnum: int = 32, in_channels: int = 5) -> None:
        super().__init__()
        self.conv1 = GenConv(in_channels, cnum, 5)
        self.conv2_downsample = GenConv(cnum, 2 * cnum, 3, stride=2)
        self.conv3 = GenConv(2 * cnum, 2 * cnum)
        self.conv4_downsample = GenConv(2 * cnum, 4 * cnum, 3, stride=2)
        self.conv5 = GenConv(4 * cnum, 4 * cnum)
        self.conv6 = GenConv(4 * cnum, 4 * cnum)
        self.conv7_atrous = GenConv(4 * cnum, 4 * cnum, dilation=2)
        self.conv8_atrous = GenConv(4 * cnum, 4 * cnum, dilation=4)
        self.conv9_atrous = GenConv(4 * cnum, 4 * cnum, dilation=8)
        self.conv10_atrous = GenConv(4 * cnum, 4 * cnum, dilation=16)
        self.conv11 = GenConv(4 * cnum, 4 * cnum)
        self.conv12 = GenConv(4 * cnum, 4 * cnum)
        self.conv13_upsample = GenDeconv(4 * cnum, 2 * cnum)
        self.conv14 = GenConv(2 * cnum, 2 * cnum)
        self.conv15_upsample = GenDeconv(2 * cnum, cnum)
        self.conv16 = GenConv(cnum, cnum // 2)
        self.conv17 = GenConv(cnum // 2, 3, activation="none")

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = layer(x)
        return x.clamp(-1.0, 1.0)


class RefineNetwork(nn.Module):
    """Stage 2: a dilated-conv ("hallucination") branch and a contextual-attention branch, merged."""

    def __init__(self, cnum: int = 32, in_channels: int = 5) -> None:
        super().__init__()
        # branch A: dilated convolutions
        self.xconv1 = GenConv(in_channels, cnum, 5)
        self.xconv2_downsample = GenConv(cnum, cnum, 3, stride=2)
        self.xconv3 = GenConv(cnum, 2 * cnum)
        self.xconv4_downsample = GenConv(2 * cnum, 2 * cnum, 3, stride=2)
        self.xconv5 = GenConv(2 * cnum, 4 * cnum)
        self.xconv6 = GenConv(4 * cnum, 4 * cnum)
        self.xconv7_atrous = GenConv(4 * cnum, 4 * cnum, dilation=2)
        self.xconv8_atrous = GenConv(4 * cnum, 4 * cnum, dilation=4)
        self.xconv9_atrous = GenConv(4 * cnum, 4 * cnum, dilation=8)
        self.xconv10_atrous = GenConv(4 * cnum, 4 * cnum, dilation=16)
        # branch B: contextual attention
        self.pmconv1 = GenConv(in_channels, cnum, 5)
        self.pmconv2_downsample = GenConv(cnum, cnum, 3, stride=2)
        self.pmconv3 = GenConv(cnum, 2 * cnum)
        self.pmconv4_downsample = GenConv(2 * cnum, 4 * cnum, 3, stride=2)
        self.pmconv5 = GenConv(4 * cnum, 4 * cnum)
        self.pmconv6 = GenConv(4 * cnum, 4 * cnum, activation="relu")
        self.contextual_attention = ContextualAttention(ksize=3, rate=2, fuse_k=3, softmax_scale=10.0)
        self.pmconv9 = GenConv(4 * cnum, 4 * cnum)
        self.pmconv10 = GenConv(4 * cnum, 4 * cnum)
        # merge and decode
        self.allconv11 = GenConv(8 * cnum, 4 * cnum)
        self.allconv12 = GenConv(4 * cnum, 4 * cnum)
        self.allconv13_upsample = GenDeconv(4 * cnum, 2 * cnum)
        self.allconv14 = GenConv(2 * cnum, 2 * cnum)
        self.allconv15_upsample = GenDeconv(2 * cnum, cnum)
        self.allconv16 = GenConv(cnum, cnum // 2)
        self.allconv17 = GenConv(cnum // 2, 3, activation="none")

    def _run(self, x: Tensor, names: tuple[str, ...]) -> Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def forward(self, xnow: Tensor, mask: Tensor, return_offsets: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        hallucinated = self._run(
            xnow,
            (
                "xconv1",
                "xconv2_downsample",
                "xconv3",
                "xconv4_downsample",
                "xconv5",
                "xconv6",
                "xconv7_atrous",
                "xconv8_atrous",
                "xconv9_atrous",
                "xconv10_atrous",
            ),
        )
        features = self._run(
            xnow, ("pmconv1", "pmconv2_downsample", "pmconv3", "pmconv4_downsample", "pmconv5", "pmconv6")
        )
        mask_small = resize_nearest_tf(mask, tuple(features.shape[-2:]))  # `resize_mask_like(mask, conv6)`
        attended = self.contextual_attention(features, features, mask_small, return_offsets=return_offsets)
        offsets = None
        if return_offsets:
            attended, offsets = attended
        attended = self.pmconv10(self.pmconv9(attended))
        x = self._run(
            torch.cat([hallucinated, attended], dim=1),
            (
                "allconv11",
                "allconv12",
                "allconv13_upsample",
                "allconv14",
                "allconv15_upsample",
                "allconv16",
                "allconv17",
            ),
        )
        x = x.clamp(-1.0, 1.0)
        return (x, offsets) if return_offsets else x


class DeepFillV1(LearnedInpainter):
    """The DeepFill v1 generator behind the inpainter contract (image [0,1] RGB, mask 1 = hole).

    `generate(x, mask)` is the official network in its own convention (BGR in [-1,1]); `predict`
    converts. `checkpoint_channel_order` only affects `checkpoint_filter_fn` on port-layout input.
    """

    size_multiple = 8
    pad_mode = "reflect"
    #: Samples per forward pass of `generate` on a CPU without autograd (None: the whole batch).
    #: `archs.inference.prepare_for_inference` sets 1: a sample's activations stay in cache, 1.2x
    #: faster per image at batch 8 (results/benchmarks/deepfill_vs_tensorflow.md). Every layer,
    #: contextual attention included, is per sample, so a sample's output is then exactly what it
    #: gets alone; the batched pass differs from it by float32 rounding only.
    cpu_micro_batch: int | None = None

    def __init__(self, cnum: int = 32, checkpoint_channel_order: str = "bgr") -> None:
        super().__init__()
        if cnum < 4 or cnum % 4:
            raise ValueError(f"cnum must be a positive multiple of 4, got {cnum}")
        if checkpoint_channel_order not in ("bgr", "rgb"):
            raise ValueError(f"checkpoint_channel_order must be 'bgr' or 'rgb', got {checkpoint_channel_order!r}")
        self.cnum = cnum
        self.checkpoint_channel_order = checkpoint_channel_order
        self.coarse = CoarseNetwork(cnum)
        self.refine = RefineNetwork(cnum)

    # --- the official network, in its own convention -------------------------------------------
    @staticmethod
    def to_network(image: Tensor) -> Tensor:
        """[0,1] RGB -> [-1,1] BGR."""
        return image.flip(1) * 2.0 - 1.0

    @staticmethod
    def from_network(x: Tensor) -> Tensor:
        """[-1,1] BGR -> [0,1] RGB."""
        return (x.flip(1) + 1.0) / 2.0

    def generate(self, x: Tensor, mask: Tensor, return_offsets: bool = False) -> tuple[Tensor, ...]:
        """Both stages: x (N,3,H,W) BGR in [-1,1], mask (N,1,H,W) 1 = hole, H and W multiples of 8.

        Returns (x_stage1, x_stage2[, offsets]) in [-1,1], uncomposited, as the official graph does.
        With `cpu_micro_batch` set, a larger CPU batch without autograd runs that many samples per
        pass (`layers.micro_batch`); a mask of batch 1 applies to every sample.
        """
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(f"DeepFill v1 needs H and W that are multiples of 8, got {tuple(x.shape[-2:])}")
        generate = functools.partial(self._generate, return_offsets=return_offsets)
        return micro_batched(generate, x, mask, step=self.cpu_micro_batch)

    def _generate(self, x: Tensor, mask: Tensor, return_offsets: bool) -> tuple[Tensor, ...]:
        x_in = x * (1.0 - mask)
        ones = torch.ones_like(mask)
        x_stage1 = self.coarse(torch.cat([x_in, ones, ones * mask], dim=1))
        x = x_stage1 * mask + x_in * (1.0 - mask)  # no stop-gradient, as the official code
        refined = self.refine(torch.cat([x, ones, ones * mask], dim=1), mask, return_offsets=return_offsets)
        if return_offsets:
            return (x_stage1, *refined)
        return x_stage1, refined

    # --- the contract --------------------------------------------------------------------------
    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        _, x_stage2 = self.generate(self.to_network(image), mask)
        return self.from_network(x_stage2)

    def checkpoint_filter_fn(self, raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return convert_port_state_dict(raw, self.checkpoint_channel_order)


# --- converter -----------------------------------------------------------------------------------


def _port_name_of(our_key: str) -> str:
    """`refine.xconv13...` style key of ours -> the PyTorch port's key."""
    stage, layer, param = our_key.split(".")
    layer = layer.replace("_upsample", "")
    if stage == "refine" and layer.startswith("xconv"):
        layer = layer[1:]
    port_stage = "coarse_generator" if stage == "coarse" else "fine_generator"
    return f"{port_stage}.{layer}.conv.{param}"


def port_key_to_ours(cnum: int = 32) -> dict[str, str]:
    """The PyTorch port's generator keys -> ours (84 entries for any cnum)."""
    with torch.device("meta"):  # names only: no memory, no random numbers drawn
        keys = DeepFillV1(cnum).state_dict().keys()
    return {_port_name_of(k): k for k in keys}


def port_key_to_tf_name(port_key: str) -> str:
    """The TF v1.0.0 variable holding a port generator key (reference section 7)."""
    ours = _port_to_ours().get(port_key.removeprefix("netG."))
    if ours is None:
        raise KeyError(f"not a DeepFill v1 generator key of the PyTorch port: {port_key}")
    _, tf_layer, param = ours.split(".")
    variable = "kernel" if param == "weight" else "bias"
    if tf_layer.endswith("_upsample"):
        return f"inpaint_net/{tf_layer}/{tf_layer}_conv/{variable}"
    return f"inpaint_net/{tf_layer}/{variable}"


@functools.cache
def _port_to_ours() -> dict[str, str]:
    return port_key_to_ours(8)  # key names do not depend on cnum


def _reverse_rgb(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """RGB-trained weights -> weights for our BGR-fed network (exact channel reversal)."""
    out = dict(state)
    for layer in _RGB_INPUT_LAYERS:
        weight = out[f"{layer}.weight"].clone()
        weight[:, :3] = weight[:, :3].flip(1)
        out[f"{layer}.weight"] = weight
    for layer in _RGB_OUTPUT_LAYERS:
        out[f"{layer}.weight"] = out[f"{layer}.weight"].flip(0)
        out[f"{layer}.bias"] = out[f"{layer}.bias"].flip(0)
    return out


def tf_to_port_state_dict(variables: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """TF v1.0.0 generator variables (`inpaint_net/...`, HWIO kernels) -> the port's layout (OIHW).

    Only the 84 generator variables are taken; discriminator and optimiser variables are ignored.
    """
    missing = [k for k in _port_to_ours() if port_key_to_tf_name(k) not in variables]
    if missing:
        raise KeyError(
            f"TF checkpoint lacks {len(missing)} DeepFill v1 generator variables, "
            f"e.g. {port_key_to_tf_name(missing[0])}"
        )
    port = {}
    for key in _port_to_ours():
        value = torch.as_tensor(variables[port_key_to_tf_name(key)])
        port[key] = value.permute(3, 2, 0, 1).contiguous() if key.endswith(".weight") else value
    return port


def convert_port_state_dict(raw: Mapping[str, Tensor], channel_order: str = "bgr") -> dict[str, Tensor]:
    """A state dict in the port's layout, TF variable names, or ours -> ours.

    Accepts `gen_*.pt` keys, a Trainer-level dict with a `netG.` prefix, and the full key list of
    `deepfill_v1_keys.tsv` (critic entries are dropped); TF `inpaint_net/...` variables go through
    `tf_to_port_state_dict` first. A dict already in our layout passes through untouched.
    `channel_order="rgb"` marks a checkpoint trained on RGB by the port itself (TF's are BGR).
    """
    if any(k.startswith("inpaint_net/") for k in raw):
        raw = tf_to_port_state_dict(raw)
    state = {k.removeprefix("netG."): v for k, v in raw.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("localD.", "globalD.", "netD."))}
    if not any(k.startswith(_PORT_PREFIXES) for k in state):
        return dict(raw)
    converted = {_port_to_ours().get(k, k): v for k, v in state.items()}
    if channel_order == "rgb":
        converted = _reverse_rgb(converted)
    elif channel_order != "bgr":
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    return converted


# --- critics -------------------------------------------------------------------------------------


class WGANCritic(nn.Module):
    """`build_wgan_{local,global}_discriminator`: four 5x5 stride-2 'SAME' convs with leaky ReLU 0.2,
    no normalisation, then a dense layer to one score.

    The features are flattened in TF's NHWC order, so official `dout_*_fc/kernel` ([h·w·c, 1])
    loads as `linear.weight = kernel.T` without permuting. Local critic widths (1,2,4,8)·cnum on the
    hole crop, global (1,2,4,4)·cnum on the whole image (TF v1.0.0).
    """

    def __init__(
        self, input_size: tuple[int, int], cnum: int = 64, widths: tuple[int, ...] = (1, 2, 4, 4), in_channels: int = 3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        height, width = input_size
        for i, mult in enumerate(widths, start=1):
            conv = GenConv(cin, mult * cnum, 5, stride=2, activation="leaky_relu")
            layers.append(conv)
            self.add_module(f"conv{i}", conv)
            cin = mult * cnum
            height, width = -(-height // 2), -(-width // 2)
        self.input_size = tuple(input_size)
        self.linear = nn.Linear(height * width * cin, 1)
        self._convs = layers

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"critic expects {self.input_size} inputs, got {tuple(x.shape[-2:])}")
        for conv in self._convs:
            x = conv(x)
        return self.linear(x.permute(0, 2, 3, 1).flatten(1))


def local_critic(crop_size: tuple[int, int], cnum: int = 64) -> WGANCritic:
    return WGANCritic(crop_size, cnum, widths=(1, 2, 4, 8))


def global_critic(image_size: tuple[int, int], cnum: int = 64) -> WGANCritic:
    return WGANCritic(image_size, cnum, widths=(1, 2, 4, 4))


# --- converter: the TensorFlow release's variables -> the PyTorch port's layout (was release/deepfill_tf.py) ---
#
# DeepFill v1's TensorFlow variables -> the PyTorch port's state-dict layout (`deepfill_v1_keys.tsv`).
#
# Names (reference/deepfill_v1.md section 7): `inpaint_net/<tf layer>/{kernel,bias}` where the coarse
# network's `convN[_downsample|_atrous]` becomes `coarse_generator.convN...`, the refinement branch's
# `xconvN...` becomes `fine_generator.convN...`, `pmconvN...` and `allconvN...` keep their names under
# `fine_generator.`, and the upsampling convs (`conv13_upsample/conv13_upsample_conv`, also 15,
# allconv13, allconv15) drop the `_upsample` level. The discriminators are not converted: inference
# needs the generator alone (the TF local critic's conv4 has 512 channels where the port has 256).
#
# Tensor layouts: conv kernels are HWIO in TensorFlow and OIHW in PyTorch (`permute(3, 2, 0, 1)`).
#
# Channel order: the release was trained on **BGR** images. The weights are kept as released (BGR);
# the DeepFill wrapper converts its input and output (inpainter.py contract). `bgr_to_rgb` gives the
# equivalent RGB weights (reverse the 3 image input channels of the first convs and the 3 output
# channels of the last convs), exact up to float summation order.

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


PAPER = "Yu et al. 2018 (CVPR)"


# --- official releases: layouts (recognised from content) and where they are published ---------------


def _deepfill_tf_matches(raw: Any) -> bool:
    return isinstance(raw, TFVariables) and f"{GENERATOR_SCOPE}conv1/kernel" in raw


def _deepfill_tf_describe(raw: Any) -> dict[str, Any]:
    ignored = sorted(k for k in raw if not k.startswith(GENERATOR_SCOPE))
    return {"channel_order": "BGR", "kernel_layout": "HWIO -> OIHW", "ignored_variables": ignored}


register(
    ReleaseLayout(
        name="deepfill_tf",
        description="DeepFill v1 TensorFlow release folder (checkpoint, snap-0.index, snap-0.data-*): "
        "inpaint_net/* mapped to the PyTorch port's names, HWIO -> OIHW, weights stay BGR",
        models=("deepfill_v1",),
        matches=_deepfill_tf_matches,
        extract=convert_generator,
        describe=_deepfill_tf_describe,
    )
)


def _daa_trainer_matches(raw: Any) -> bool:
    return isinstance(raw, Mapping) and "netG.coarse_generator.conv1.conv.weight" in raw


register(
    ReleaseLayout(
        name="deepfill_port_trainer",
        description="DeepFill v1 PyTorch port Trainer state dict (torch_model.p: netG./localD./globalD.): "
        "'netG.' generator kept",
        models=("deepfill_v1",),
        matches=_daa_trainer_matches,
        extract=lambda raw: {k.removeprefix("netG."): v for k, v in flat_tensors(raw).items() if k.startswith("netG.")},
        describe=lambda raw: {"channel_order": "RGB (port's own conversion of the TF weights)"},
    )
)


#: The official releases (timm's pretrained entries); `inpaintbench weights` lists them.
PRETRAINED: tuple[Release, ...] = register_releases(
    (
        *(
            Release(
                name=f"deepfill-v1-{tag}",
                model="deepfill_v1",
                dataset=dataset,
                published_at="https://github.com/JiahuiYu/generative_inpainting (branch v1.0.0 README, Google Drive)",
                files=("checkpoint", "snap-0.index", "snap-0.data-00000-of-00001", "snap-0.meta"),
                licence="CC BY-NC 4.0 (README: non-commercial, research use)",
                notes="Manual download of the folder release_" + tag + "_256/ (TensorFlow checkpoint; "
                "'checkpoint' may arrive as checkpoint.txt; snap-0.meta is not needed). BGR weights. "
                "sha256 unknown. Place the folder under the cache path shown.",
            )
            for tag, dataset in (
                ("places2", "Places2"),
                ("celeba_hq", "CelebA-HQ"),
                ("celeba", "CelebA"),
                ("imagenet", "ImageNet"),
            )
        ),
    )
)


# --- registered variants -------------------------------------------------------------------------


@register_model("deepfill_v1", family="deepfill_v1", paper=PAPER, size_multiple=8, params=3_601_542)
def deepfill_v1(checkpoint_channel_order: str = "bgr") -> DeepFillV1:
    """The released v1.0.0 generator (cnum 32)."""
    return DeepFillV1(cnum=32, checkpoint_channel_order=checkpoint_channel_order)


@register_model("deepfill_v1_tiny", family="deepfill_v1", paper=PAPER, size_multiple=8, params=228_198)
def deepfill_v1_tiny(cnum: int = 8) -> DeepFillV1:
    """Same structure with cnum 8, for tests and the small-checkpoint zoo."""
    return DeepFillV1(cnum=cnum)
