"""Inference-time graph preparation, done once when `eval` or `inpaint` has loaded a model.

`prepare_for_inference(model)` returns a prepared **copy**; the model it was given (the one training,
`load_weights` and the run identity see) is untouched. What it does, measured in
results/benchmarks/model_speed.md:

- **BatchNorm folding**: every BatchNorm that directly follows a convolution (LaMa's FFC branches,
  Fourier units and decoder, PConv's blocks, RFR-Net's head, tail and RFR module) is folded into that
  convolution's weight and bias, computed in float64, so the eval-mode BatchNorm pass disappears. A
  partial convolution renormalises its output before the BatchNorm and zeroes the bias in empty
  windows while the BatchNorm shift applies everywhere, so there the shift stays a separate
  per-channel add (`PartialConv2d.shift`, in place after the bias). The BatchNorm is replaced by
  `FoldedBatchNorm`, which passes its input through but keeps the BatchNorm's tensors, so the
  parameter count (an efficiency column) and the state-dict keys stay those of the model.
  A prepared model's state dict is **not a weights file**: its convolutions hold folded weights.
- **in-place activations** where the activation's input is a fresh tensor nothing else reads
  (DeepFill's `gen_conv` ELU, PConv's ReLU / LeakyReLU, the conv -> BatchNorm -> activation blocks
  of RFR-Net's RFR module).
- **RFR-Net**: the RFR module's transposed convolutions run as matmul + col2im on small inputs
  (`layers.matmul_conv_transpose`: `dec_3` at batch 1-2, 1.5-1.7x faster than oneDNN there).
- **channels_last** (`channels_last=None` picks it per architecture, where it measured faster here).
- **micro-batches on a CPU** where they pay (`CPU_MICRO_BATCH`: DeepFill v1 one sample per pass,
  RFR-Net two, whose activations then stay in cache; outputs move from the whole-batch pass's by
  float32 rounding: `INFERENCE_VERSION` 2).
- **torch.compile** (opt-in, `compile=True`): compiles `predict`; every call that compiles (the
  first, and each new batch shape) is logged with its duration, and on a CPU a warning comes first:
  there compile made DeepFill v1 and RFR-Net slower and the other full-size models at most 1.06x
  faster (results/benchmarks/compile_speed.md).

Outputs move by float32 rounding only: at most 1e-5 on the zoo checkpoints, and never further from the
float64 result than the model as built (tests/unit/test_inference.py; differences in model_speed.md).
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from inpaintbench.archs.deepfill_v1 import DeepFillV1, GenConv
from inpaintbench.archs.lama import LamaInpainter
from inpaintbench.archs.layers.batch_norm import batch_norm_scale_shift
from inpaintbench.archs.layers.ffc import FFC_BN_ACT, FourierUnit, SpectralTransform
from inpaintbench.archs.layers.matmul_conv_transpose import MatmulConvTranspose2d
from inpaintbench.archs.pconv import PartialConvBlock, PConvInpainter
from inpaintbench.archs.rfr import Bottleneck, RFRModule, RFRNet

log = logging.getLogger(__name__)

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)
_IN_PLACE_ACTIVATIONS = (nn.ELU, nn.ReLU, nn.LeakyReLU)

#: Architectures run in channels_last memory format: faster for LaMa (1.06x) and DeepFill (1.04-1.14x),
#: within noise for PConv (0.99x here, 1.07-1.30x in issue 19's runs); RFR-Net is 1.09x faster without.
CHANNELS_LAST_PAYS: tuple[type[nn.Module], ...] = (DeepFillV1, LamaInpainter, PConvInpainter)

#: Images per forward pass on a CPU. The models alone ran within about 15 % per image at batch 8 and
#: at 1, either way (results/benchmarks/model_speed.md, Part 0), but a whole evaluation also batches
#: the metric pass and the shard writing: `eval` of the zoo's DeepFill took 1.18x longer at batch 1 than at 8
#: (results/benchmarks/eval_batch.md). 8 also keeps the run hashes of CPU runs made before `auto`
#: existed. A GPU needs batches to be busy.
CPU_BATCH_SIZE = 8
GPU_BATCH_SIZE = 16

#: Bump when a change to `prepare_for_inference` or to a model's forward code can move a prepared
#: model's output bits: it is part of every run hash and completed-image cache key (`inference_identity`),
#: so results computed by the old code are never resumed into, or served to, the new.
#: 2 (issue 19): CPU batches run in micro-batches (`CPU_MICRO_BATCH`); RFR-Net's attention propagates
#: query features and its small transposed convolutions run as matmul + fold (float32 rounding, <= 1e-5).
INFERENCE_VERSION = 2

#: Bump when a change moves what torch.compile is given to compile (the traced graph) but not the
#: eager outputs: it is in the identity of `compile=true` runs only, so eager run hashes stay.
#: 1 (issue 19): PConv's decoder traces plain ops under compile (one graph, not one per level).
COMPILED_GRAPH_VERSION = 1

#: Images per network pass of a prepared model on a CPU (its `cpu_micro_batch`), where smaller passes
#: keep the activations in cache: DeepFill v1 one at a time (1.2x faster per image at batch 8);
#: RFR-Net two (batch 8 in passes of 2 took 27.0 s, of 1 28.3 s, whole 33.7 s: one round, load 5).
#: PConv gained only 1.06x, within the noise of this machine, so it keeps whole batches. A sample's
#: output then depends on the batch only through its micro-batch (float32 rounding).
CPU_MICRO_BATCH: dict[type[nn.Module], int] = {DeepFillV1: 1, RFRNet: 2}


def default_batch_size(device: torch.device | str) -> int:
    """`batch_size: auto`: CPU_BATCH_SIZE on a CPU, GPU_BATCH_SIZE on an accelerator."""
    return CPU_BATCH_SIZE if torch.device(device).type == "cpu" else GPU_BATCH_SIZE


def inference_identity(device: torch.device | str, *, compile: bool) -> dict[str, Any]:
    """What, besides the weights and the inputs, decides a prepared model's output bits: the code
    (`INFERENCE_VERSION`), torch's version, torch.compile (with `COMPILED_GRAPH_VERSION`) and the
    device type."""
    identity = {
        "version": INFERENCE_VERSION,
        "torch": torch.__version__,
        "compile": compile,
        "device": torch.device(device).type,
    }
    if compile:
        identity["compiled_graph"] = COMPILED_GRAPH_VERSION
    return identity


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """A CPU batch on `device`; to a CUDA GPU through pinned memory, without blocking the host
    (the next read of the result synchronises). Unmeasured: no GPU was available when it was written."""
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


class FoldedBatchNorm(nn.Module):
    """Where a BatchNorm was folded into the convolution before it: the identity.

    Holds the BatchNorm's parameters and buffers under the same names, unused, so the prepared
    model's parameter count and state-dict keys are the model's.
    """

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.num_features = bn.num_features
        for name, param in bn.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, buf in bn.named_buffers(recurse=False):
            self.register_buffer(name, buf)

    def forward(self, x: Tensor) -> Tensor:
        return x


def prepare_for_inference(model: Any, *, channels_last: bool | None = None, compile: bool = False) -> Any:
    """A copy of `model` prepared for inference (see the module docstring); non-modules come back as is.

    `channels_last`: None = where it pays for the architecture (`CHANNELS_LAST_PAYS`), on CPU and GPU.
    """
    if not isinstance(model, nn.Module):
        return model
    prepared = copy.deepcopy(model).eval()
    for parent, name, bn, convs, partial in list(_batch_norms_after_convs(prepared)):
        _fold(bn, convs, partial)
        setattr(parent, name, FoldedBatchNorm(bn))
    for module in _in_place_candidates(prepared):
        module.inplace = True
    for module in prepared.modules():
        for architecture, images in CPU_MICRO_BATCH.items():
            if isinstance(module, architecture):
                module.cpu_micro_batch = images
    _prepare_rfr_modules(prepared)
    if channels_last is None:
        channels_last = isinstance(prepared, CHANNELS_LAST_PAYS)
    if channels_last:
        prepared = prepared.to(memory_format=torch.channels_last)
    if compile:
        _compile(prepared)
    return prepared


# -- BatchNorm folding -------------------------------------------------------------------------------


def _batch_norms_after_convs(
    model: nn.Module,
) -> Iterator[tuple[nn.Module, str, nn.BatchNorm2d, list[nn.Module], bool]]:
    """(parent, attribute, BatchNorm, the convolutions whose outputs it normalises (summed), partial?)."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            items = list(module._modules.items())
            for (_, first), (name, second) in itertools.pairwise(items):
                if isinstance(first, _CONVS) and isinstance(second, nn.BatchNorm2d):
                    yield module, name, second, [first], False
        elif isinstance(module, FourierUnit):
            yield module, "bn", module.bn, [module.conv_layer], False
        elif isinstance(module, FFC_BN_ACT):
            ffc = module.ffc
            g2g = ffc.convg2g.conv2 if isinstance(ffc.convg2g, SpectralTransform) else None
            for name, convs in (("bn_l", [ffc.convl2l, ffc.convg2l]), ("bn_g", [ffc.convl2g, g2g])):
                bn = getattr(module, name)
                if isinstance(bn, nn.BatchNorm2d):
                    yield module, name, bn, [c for c in convs if c is not None], False
        elif isinstance(module, Bottleneck):
            for i in (1, 2, 3):
                yield module, f"bn{i}", getattr(module, f"bn{i}"), [getattr(module, f"conv{i}")], False
        elif isinstance(module, RFRNet):
            yield module, "bn3", module.bn3, [module.Tconv], False
            for conv, bn in (("Pconv1", "bn1"), ("Pconv2", "bn20"), ("Pconv22", "bn2")):
                yield module, bn, getattr(module, bn), [getattr(module, conv)], True
        elif isinstance(module, PartialConvBlock) and isinstance(module.bn, nn.BatchNorm2d):
            yield module, "bn", module.bn, [module.conv], True


@torch.no_grad()
def _fold(bn: nn.BatchNorm2d, convs: list[nn.Module], partial: bool) -> None:
    """y = scale * (sum of conv outputs) + shift, with scale and shift from the eval-mode statistics."""
    scale, shift = batch_norm_scale_shift(bn)
    for conv in convs:
        axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
        view = [1] * conv.weight.ndim
        view[axis] = -1
        conv.weight.copy_(conv.weight.double() * scale.view(view))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias.double() * scale)
    target = convs[0]
    if partial:  # the shift applies in every window, the (scaled) bias only in non-empty ones
        target.shift = shift.to(target.weight.dtype)
    elif target.bias is not None:
        target.bias.copy_(target.bias.double() + shift)
    else:  # a bias-free conv gets its bias as a buffer outside the state dict
        del target._parameters["bias"]
        target.register_buffer("bias", shift.to(target.weight.dtype), persistent=False)


# -- RFR-Net -------------------------------------------------------------------------------------------


def _rfr_conv_blocks(module: RFRModule) -> Iterator[nn.Sequential]:
    """The RFR module's conv -> BatchNorm -> activation blocks."""
    for block in module.children():
        if isinstance(block, nn.Sequential) and isinstance(block[0], _CONVS):
            yield block


def _prepare_rfr_modules(model: nn.Module) -> None:
    """In every RFR module of RFR-Net: transposed convolutions as matmul + fold (which fall back to
    oneDNN on inputs with many pixels)."""
    for module in model.modules():
        if isinstance(module, RFRModule):
            for block in _rfr_conv_blocks(module):
                if isinstance(block[0], nn.ConvTranspose2d):
                    block[0] = MatmulConvTranspose2d(block[0])


# -- activations, compile ------------------------------------------------------------------------------


def _in_place_candidates(model: nn.Module) -> Iterator[nn.Module]:
    """Activations applied to a fresh tensor that nothing else reads (`act(conv(x))`, or
    `act(bn(conv(x)))` with the BatchNorm folded)."""
    for module in model.modules():
        if isinstance(module, GenConv):
            acts = [module.activation]
        elif isinstance(module, PartialConvBlock):
            acts = [module.act]
        elif isinstance(module, RFRModule):
            acts = [block[-1] for block in _rfr_conv_blocks(module)]
        else:
            continue
        yield from (act for act in acts if isinstance(act, _IN_PLACE_ACTIVATIONS))


def _compiled_graphs() -> int:
    """How many graphs dynamo has compiled in this process (its own counter)."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


def _compile(model: nn.Module) -> None:
    """torch.compile `predict` (or `forward`); log every call that compiles (the first, and each new
    batch shape, e.g. an evaluation's last, partial batch) with its duration, and on a CPU warn
    before the first compile starts."""
    name = "predict" if hasattr(model, "predict") else "forward"
    compiled = torch.compile(getattr(model, name))
    warned = False

    def timed(*args: Any, **kwargs: Any) -> Any:
        nonlocal warned
        if not warned and any(isinstance(arg, Tensor) and arg.device.type == "cpu" for arg in args):
            warned = True
            log.warning(
                "compile=true on a CPU: compiling takes 25-330 s per batch shape, and the full-size models "
                "then ran 0.41-1.06x as fast as without it (DeepFill v1 and RFR-Net slower; "
                "results/benchmarks/compile_speed.md). Use compile=false on a CPU."
            )
        graphs, start = _compiled_graphs(), time.perf_counter()
        out = compiled(*args, **kwargs)
        if _compiled_graphs() != graphs:
            shape = next((tuple(arg.shape) for arg in args if isinstance(arg, Tensor)), ())
            log.info(
                "torch.compile: %s.%s compiled for inputs of shape %s in %.1f s",
                type(model).__name__,
                name,
                shape,
                time.perf_counter() - start,
            )
        return out

    setattr(model, name, timed)


__all__ = [
    "CHANNELS_LAST_PAYS",
    "COMPILED_GRAPH_VERSION",
    "CPU_BATCH_SIZE",
    "CPU_MICRO_BATCH",
    "INFERENCE_VERSION",
    "FoldedBatchNorm",
    "default_batch_size",
    "inference_identity",
    "prepare_for_inference",
    "to_device",
]
