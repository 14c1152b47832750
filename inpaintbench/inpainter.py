"""The one contract every inpainter honours, and the harness steps done once for all of them.

Batch convention (DESIGN.md): `image` float32 (N,3,H,W) in [0,1]; `mask` float32 (N,1,H,W) in {0,1},
**1 = hole**. `inpaint(image, mask)` returns a prediction in the same convention; what it puts in
known pixels does not matter, because the harness composites (`composite`) and quantises
(`quantize_8bit`) exactly once, so in-memory and saved-PNG evaluation give identical numbers. The
harness also blanks the hole before calling `inpaint` (`blank_hole`): the input holds zeros there.
A model whose own convention differs (PConv: 1 = valid, DeepFill: [-1,1] BGR, LaMa: multiples of 8)
converts inside its wrapper; call sites never convert.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.model_registry import MODELS


@runtime_checkable
class Inpainter(Protocol):
    """Anything with `inpaint(image, mask) -> pred` in the batch convention above, plus `eval()` and
    `to(device)` returning the inpainter, so `model.eval().to(device).inpaint(...)` works for learned
    models (nn.Module) and classical ones alike."""

    def inpaint(self, image: Tensor, mask: Tensor) -> Tensor: ...

    def eval(self) -> Inpainter: ...

    def to(self, device: str | torch.device) -> Inpainter: ...


def check_batch(image: Tensor, mask: Tensor) -> None:
    """Reject a batch that breaks the contract, with one sentence saying how."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be (N,3,H,W), got {tuple(image.shape)}")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (N,1,H,W), got {tuple(mask.shape)}")
    if image.shape[0] != mask.shape[0] or image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and mask {tuple(mask.shape)} differ in batch or size")
    if not image.is_floating_point() or not mask.is_floating_point():
        raise TypeError("image and mask must be floating point tensors")


def blank_hole(image: Tensor, mask: Tensor) -> Tensor:
    """`image * (1 - mask)`: what the harness passes to every inpainter, so no model, learned or
    classical, ever sees the pixels it must predict (OpenCV reads pixels under a hole that touches
    the border; a model given the ground truth there could copy it)."""
    return image * (1.0 - mask)


def composite(image: Tensor, mask: Tensor, pred: Tensor) -> Tensor:
    """Known pixels from `image`, hole pixels from `pred` (1 = hole).

    For the binary masks of the pipeline this is `mask * pred + (1 - mask) * image`, written as a
    selection so a non-finite prediction can never leak into known pixels (0 * NaN is NaN).
    """
    return torch.where(mask > 0.5, pred, image)


def quantize_8bit(x: Tensor) -> Tensor:
    """Round (never truncate) to the 256 levels of an 8-bit PNG, back in [0,1] float32."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def complete(image: Tensor, mask: Tensor, pred: Tensor) -> Tensor:
    """What every metric sees: the composite quantised to 8-bit levels."""
    return quantize_8bit(composite(image, mask, pred))


def to_uint8(x: Tensor) -> Tensor:
    """(N,C,H,W) [0,1] float -> (N,H,W,C) uint8 with the same rounding as `quantize_8bit`."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.uint8).permute(0, 2, 3, 1)


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "reflect") -> tuple[Tensor, tuple[int, int]]:
    """Pad bottom and right so H and W are multiples of `multiple`; return the original (H, W).

    `mode` is 'reflect' (torch, edge pixel not repeated), 'symmetric' (numpy's, edge repeated; what
    LaMa's predict script uses), 'replicate' or 'constant' (zeros).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    if mode == "symmetric":
        if pad_h > h or pad_w > w:
            raise ValueError(f"symmetric padding of {h}x{w} to a multiple of {multiple} needs a larger image")
        x = torch.cat([x, x.flip(-2)[..., :pad_h, :]], dim=-2)
        x = torch.cat([x, x.flip(-1)[..., :pad_w]], dim=-1)
        return x, (h, w)
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Undo `pad_to_multiple`."""
    return x[..., : size[0], : size[1]]


class LearnedInpainter(nn.Module):
    """Base class for the learned models' wrappers.

    Subclasses hold the architecture, set `size_multiple` and `pad_mode`, and implement `predict`,
    which receives a padded batch in the contract convention and returns a [0,1] prediction.
    `inpaint` adds validation, padding/cropping, `inference_mode` and the clamp.
    """

    size_multiple: int = 1
    pad_mode: str = "reflect"

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Training-time entry: the prediction with gradients, padded and cropped like `inpaint`."""
        check_batch(image, mask)
        padded_image, size = pad_to_multiple(image, self.size_multiple, self.pad_mode)
        padded_mask, _ = pad_to_multiple(mask, self.size_multiple, self.pad_mode)
        return crop_to(self.predict(padded_image, padded_mask), size)

    def inpaint(self, image: Tensor, mask: Tensor) -> Tensor:
        with torch.inference_mode():
            return self(image, mask).clamp(0.0, 1.0)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def create_model(name: str, **args: Any) -> Inpainter:
    """Build a registered inpainter by name (`pconv_unet`, `lama_big`, `opencv_telea`, ...).

    The name is recorded as `model.model_name`: several names share one class (lama_big and
    lama_fourier are both `LamaInpainter`), and the release reader needs to know which one this is.
    """
    model = MODELS.get(name)(**args)
    model.model_name = name
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, sorted."""
    return MODELS.names(pattern)
