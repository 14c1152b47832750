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
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.contextual_attention import ContextualAttention, resize_nearest_tf
from inpaintbench.archs.layers.tf_padding import Conv2dSame
from inpaintbench.inpainter import MODELS, LearnedInpainter

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
        """
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(f"DeepFill v1 needs H and W that are multiples of 8, got {tuple(x.shape[-2:])}")
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


# --- registered variants -------------------------------------------------------------------------


@MODELS.register("deepfill_v1", family="deepfill_v1", paper="Yu et al. 2018 (CVPR)", params=3_601_542)
def deepfill_v1(checkpoint_channel_order: str = "bgr") -> DeepFillV1:
    """The released v1.0.0 generator (cnum 32)."""
    return DeepFillV1(cnum=32, checkpoint_channel_order=checkpoint_channel_order)


@MODELS.register("deepfill_v1_tiny", family="deepfill_v1", paper="Yu et al. 2018 (CVPR)")
def deepfill_v1_tiny(cnum: int = 8) -> DeepFillV1:
    """Same structure with cnum 8, for tests and the small-checkpoint zoo."""
    return DeepFillV1(cnum=cnum)
