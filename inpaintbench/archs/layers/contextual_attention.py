"""Contextual attention (Yu et al. 2018), exactly as the official TensorFlow v1.0.0 computes it.

Foreground features borrow from background (known-region) features: every 3x3 background patch of
the 1/`rate` downscaled map is a matching filter, every 2·rate x 2·rate patch of the full-resolution
map is the patch that gets pasted. Steps (reference/deepfill_v1.md section 3):

1. raw patches: 4x4 (2·rate) at stride rate from the full-resolution background, TF 'SAME' zero pad;
2. downscale foreground, background and mask with TF1 `resize_nearest_neighbor(align_corners=True)`
   (`resize_nearest_tf`; for 64 -> 32 it picks 0,2,...,30,33,...,63, not PyTorch's 0,2,...,62);
3. matching filters: 3x3 patches of the downscaled background ('SAME' zero pad), each divided by
   max(||w||_2, 1e-4); the foreground is not normalised;
4. a background patch is usable only if all 9 of its downscaled-mask pixels are 0 (border padding
   counts as known);
5. scores = foreground patches · normalised filters; attention propagation: add the scores of the
   +-1 diagonal neighbours in the (foreground x background) score matrix flattened row-major, then the
   same with both axes flattened column-major (the row-end wrap-around of the flattening is kept);
6. scores x valid -> softmax(10 x scores) over the background -> x valid. Masked logits are 0, not
   -inf, so invalid patches still take part in the normalisation and the valid weights sum below 1;
7. paste: the weighted raw patches summed back at stride rate (a transposed convolution), / 4.

Deliberate deviations from the official code:
- Each sample uses its own mask. The official layer uses the mask of batch element 0 for the whole
  batch (its training shares one mask per batch); with a shared mask the two are identical.
- The score and paste steps are batched matrix products (unfold / bmm / fold) instead of a Python
  loop of per-sample convolutions; same arithmetic, different summation order (~1e-7).
- Under autocast (bf16/fp16 mixed precision) the layer runs in float32: a x10 softmax over scores
  with three significant digits would change which patches are copied.
- Only stride 1 matching is supported (the official call; its fusion reshape breaks otherwise), and
  feature sizes must be multiples of `rate` (the official patch counts disagree otherwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.archs.layers.tf_padding import pad_same, same_padding


def align_corners_index(size_in: int, size_out: int, device: torch.device | None = None) -> Tensor:
    """Source indices of TF1 nearest resizing with align_corners=True.

    TF computes `scale = (in - 1) / float(out - 1)` in float32 and reads
    `min(roundf(float(i) * scale), in - 1)`; roundf rounds half away from zero.
    """
    if size_out == 1:
        return torch.zeros(1, dtype=torch.long, device=device)
    scale = torch.tensor(size_in - 1, dtype=torch.float32) / torch.tensor(size_out - 1, dtype=torch.float32)
    position = torch.arange(size_out, dtype=torch.float32) * scale  # float32 product, as in TF
    index = torch.floor(position.double() + 0.5).long().clamp_(max=size_in - 1)
    return index.to(device)


def resize_nearest_tf(x: Tensor, size: tuple[int, int]) -> Tensor:
    """TF1 `resize_nearest_neighbor(align_corners=True)` of an (N,C,H,W) tensor to `size`.

    For x2 upsampling this equals pixel duplication; for downsampling it does not equal PyTorch's
    floor-nearest `F.interpolate`.
    """
    rows = align_corners_index(x.shape[-2], size[0], x.device)
    cols = align_corners_index(x.shape[-1], size[1], x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _extract_patches(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TF `extract_image_patches` with 'SAME' zero padding, as (N, C·k·k, L) with L row-major."""
    return F.unfold(pad_same(x, kernel, stride), kernel, stride=stride)


def _fuse_diagonal(scores: Tensor, fuse_k: int) -> Tensor:
    """'SAME' convolution of an (N,P,Q) matrix with a fuse_k x fuse_k identity kernel."""
    if torch.is_grad_enabled() and scores.requires_grad:
        out = scores
        for shift in range(1, fuse_k // 2 + 1):
            out = out + F.pad(scores[:, :-shift, :-shift], (shift, 0, shift, 0))
            out = out + F.pad(scores[:, shift:, shift:], (0, shift, 0, shift))
        return out
    out = scores.clone()  # the same sums in the same order, without the padded copies
    for shift in range(1, fuse_k // 2 + 1):
        out[:, shift:, shift:] += scores[:, :-shift, :-shift]
        out[:, :-shift, :-shift] += scores[:, shift:, shift:]
    return out


def _transpose_grids(scores: Tensor, fg: tuple[int, int], bg: tuple[int, int]) -> Tensor:
    """Re-flatten both axes of the (N,P,Q) score matrix from row-major to column-major order."""
    n = scores.shape[0]
    grid = scores.reshape(n, fg[0], fg[1], bg[0], bg[1]).permute(0, 2, 1, 4, 3)
    return grid.reshape(n, fg[0] * fg[1], bg[0] * bg[1])


class ContextualAttention(nn.Module):
    """The parameter-free contextual attention layer; see the module docstring for the algorithm.

    `forward(f, b, mask)`: foreground and background features (N,C,H,W) (DeepFill passes the same
    tensor twice), `mask` (N or 1,1,H,W) at the features' resolution with 1 = hole (None: all known).
    Returns the reconstructed foreground (N,C,H,W), and with `return_offsets=True` also the argmax
    background position per downscaled foreground position, (N,2,H/rate,W/rate) as (row, col).
    """

    def __init__(
        self,
        ksize: int = 3,
        rate: int = 2,
        fuse_k: int = 3,
        softmax_scale: float = 10.0,
        fuse: bool = True,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        if ksize % 2 == 0 or fuse_k % 2 == 0:
            raise ValueError(f"ksize and fuse_k must be odd, got {ksize} and {fuse_k}")
        self.ksize, self.rate, self.fuse_k = ksize, rate, fuse_k
        self.softmax_scale, self.fuse, self.eps = softmax_scale, fuse, eps

    def extra_repr(self) -> str:
        return f"ksize={self.ksize}, rate={self.rate}, fuse_k={self.fuse_k}, softmax_scale={self.softmax_scale}"

    def forward(
        self, f: Tensor, b: Tensor, mask: Tensor | None = None, return_offsets: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        device_type = b.device.type
        if torch.is_autocast_enabled(device_type):  # scores x 10 through a softmax need float32
            with torch.autocast(device_type, enabled=False):
                mask = None if mask is None else mask.float()
                return self._attend(f.float(), b.float(), mask, return_offsets)
        return self._attend(f, b, mask, return_offsets)

    def _attend(
        self, f: Tensor, b: Tensor, mask: Tensor | None, return_offsets: bool
    ) -> Tensor | tuple[Tensor, Tensor]:
        n, _, height, width = b.shape
        rate, k = self.rate, self.ksize
        for name, t in (("foreground", f), ("background", b)):
            if t.shape[-2] % rate or t.shape[-1] % rate:
                size = tuple(t.shape[-2:])
                raise ValueError(f"contextual attention: {name} size {size} is not a multiple of rate {rate}")
        if f.shape[:2] != b.shape[:2]:
            raise ValueError(f"foreground {tuple(f.shape)} and background {tuple(b.shape)} differ in batch or channels")

        # 1. raw (2·rate)^2 patches of the full-resolution background: what gets pasted.
        raw = _extract_patches(b, 2 * rate, rate)  # (N, C·4r², Q)

        # 2. downscale for matching (TF nearest, align_corners).
        fg = (f.shape[-2] // rate, f.shape[-1] // rate)
        bg = (height // rate, width // rate)
        f_small = resize_nearest_tf(f, fg)
        b_small = resize_nearest_tf(b, bg)

        # 3. matching filters, normalised by max(||w||, eps).
        filters = _extract_patches(b_small, k, 1)  # (N, C·k², Q)
        filters = filters / filters.norm(dim=1, keepdim=True).clamp_min(self.eps)

        # 4. usable background patches: all k² downscaled mask pixels known.
        valid = self._valid_patches(mask, n, (height, width), bg, b.dtype, b.device)  # (N, 1, Q)

        # 5. scores (N, P, Q) and attention propagation.
        queries = _extract_patches(f_small, k, 1)  # (N, C·k², P)
        scores = torch.bmm(queries.transpose(1, 2), filters)
        if self.fuse:
            scores = _fuse_diagonal(scores, self.fuse_k)
            scores = _transpose_grids(scores, fg, bg)
            scores = _fuse_diagonal(scores, self.fuse_k)
            scores = _transpose_grids(scores, (fg[1], fg[0]), (bg[1], bg[0]))

        # 6. masked softmax with the official zero-logit "escape".
        attention = torch.softmax(scores * valid * self.softmax_scale, dim=-1) * valid

        # 7. paste: sum of weighted raw patches at stride rate, then / 4.
        pasted = torch.bmm(raw, attention.transpose(1, 2))  # (N, C·4r², P)
        top, bottom = same_padding(f.shape[-2], 2 * rate, rate)
        left, right = same_padding(f.shape[-1], 2 * rate, rate)
        out_size = (f.shape[-2] + top + bottom, f.shape[-1] + left + right)
        out = F.fold(pasted, out_size, 2 * rate, stride=rate)
        out = out[..., top : top + f.shape[-2], left : left + f.shape[-1]] / 4.0
        if not return_offsets:
            return out
        index = attention.argmax(dim=-1).reshape(n, *fg)
        offsets = torch.stack([index // bg[1], index % bg[1]], dim=1)
        return out, offsets

    def _valid_patches(
        self,
        mask: Tensor | None,
        n: int,
        full: tuple[int, int],
        small: tuple[int, int],
        dtype: torch.dtype,
        device: torch.device,
    ) -> Tensor:
        if mask is None:
            return torch.ones(n, 1, small[0] * small[1], dtype=dtype, device=device)
        if mask.ndim != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != full or mask.shape[0] not in (1, n):
            expected = f"(N or 1,1,{full[0]},{full[1]})"
            raise ValueError(f"contextual attention: mask must be {expected}, got {tuple(mask.shape)}")
        mask_small = resize_nearest_tf(mask.to(dtype), small)
        holes = _extract_patches(mask_small, self.ksize, 1).sum(dim=1, keepdim=True)
        return (holes == 0).to(dtype).expand(n, -1, -1)
