"""The reconstruction loss family of PConv (Liu et al. 2018) and RFR-Net (Li et al. 2020).

With I_out the raw prediction, I_gt the target, M = 1 on valid pixels and I_comp = M⊙I_gt + (1−M)⊙I_out:

    L = w_valid·L_valid + w_hole·L_hole + w_perc·L_perc + w_style·(L_style_out + L_style_comp) + w_tv·L_tv

- L_valid = mean |M⊙(I_out−I_gt)|, L_hole = mean |(1−M)⊙(I_out−I_gt)|: **size-averaged** over all
  N·C·H·W elements (the authors' errata), not over the valid or hole count.
- L_perc = Σ_p mean|Ψp(I_out)−Ψp(I_gt)| + mean|Ψp(I_comp)−Ψp(I_gt)| over feature taps p
  (PConv: VGG16 pool1, pool2, pool3).
- L_style_* = Σ_p mean|G(Ψp(I_*))−G(Ψp(I_gt))| with the Gram matrix G(F) = F Fᵀ / (C·H·W) per sample,
  averaged over the C×C entries (and the batch).
- L_tv on I_comp, in one of three named regions:
  `dilated_hole` (the paper): pairs of horizontally / vertically adjacent pixels both in P, the
  1-pixel (3×3) dilation of the hole, summed and divided by N_comp = N·C·H·W;
  `image` (the naoto0804 PConv port): mean over the whole image of each direction's differences;
  `hole` (RFR-Net's code): the `image` form on I_comp⊙(1−M).
  `dilated_hole` and `image` have the same gradient up to the normalisation (known pixels are
  constants); `hole` also pulls hole pixels next to the border towards 0.

`space` says where every term is computed, inputs being [0,1] images: `imagenet` (the PConv port:
(x−mean)/std, also what VGG sees, as torchvision's ImageNet VGG expects) or `unit` ([0,1] as given,
RFR-Net's code, whose VGG is fed [0,1] without normalisation). The feature extractor is any module
returning a list of tensors (`losses.vgg.VGG16Features`, or a stand-in in tests); `None` disables the
perceptual and style terms, which must then have weight 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TV_REGIONS",
    "ReconstructionLoss",
    "gram_matrix",
    "hole_l1",
    "total_variation",
    "valid_l1",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TV_REGIONS = ("dilated_hole", "image", "hole")
SPACES = ("imagenet", "unit")


def valid_l1(output: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """Size-averaged L1 on known pixels (`hole` 1 = hole, broadcast over channels)."""
    return torch.mean(torch.abs((1.0 - hole) * (output - target)))


def hole_l1(output: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """Size-averaged L1 on hole pixels."""
    return torch.mean(torch.abs(hole * (output - target)))


def gram_matrix(features: Tensor) -> Tensor:
    """(N,C,H,W) -> (N,C,C) F Fᵀ / (C·H·W), in float32 or wider (safe under mixed precision)."""
    n, c, h, w = features.shape
    flat = features.to(torch.promote_types(features.dtype, torch.float32)).reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def total_variation(comp: Tensor, hole: Tensor, region: str = "dilated_hole") -> Tensor:
    """L_tv of the composite in the named region (module docstring)."""
    if region == "image" or region == "hole":
        image = comp if region == "image" else comp * hole
        return torch.mean(torch.abs(image[..., :, 1:] - image[..., :, :-1])) + torch.mean(
            torch.abs(image[..., 1:, :] - image[..., :-1, :])
        )
    if region == "dilated_hole":
        border = F.max_pool2d(hole, kernel_size=3, stride=1, padding=1)  # 1-pixel dilation P of the hole
        horizontal = border[..., :, 1:] * border[..., :, :-1]
        vertical = border[..., 1:, :] * border[..., :-1, :]
        total = torch.sum(horizontal * torch.abs(comp[..., :, 1:] - comp[..., :, :-1])) + torch.sum(
            vertical * torch.abs(comp[..., 1:, :] - comp[..., :-1, :])
        )
        return total / comp.numel()
    raise ValueError(f"unknown TV region '{region}' (known: {', '.join(TV_REGIONS)})")


class ReconstructionLoss(nn.Module):
    """`forward(output, target, hole) -> {valid, hole, perceptual, style, tv, total}`.

    The five terms are unweighted; `total` is their weighted sum.

    `output` and `target` are (N,3,H,W) in [0,1] space (output unclamped), `hole` (N,1,H,W) 1 = hole.
    """

    def __init__(
        self,
        *,
        valid: float,
        hole: float,
        perceptual: float,
        style: float,
        tv: float,
        tv_region: str,
        space: str,
        features: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if tv_region not in TV_REGIONS:
            raise ValueError(f"unknown TV region '{tv_region}' (known: {', '.join(TV_REGIONS)})")
        if space not in SPACES:
            raise ValueError(f"unknown loss space '{space}' (known: {', '.join(SPACES)})")
        if features is None and (perceptual or style):
            raise ValueError(
                "perceptual/style weights are non-zero but no feature extractor was given; "
                "set both weights to 0 (backbone 'none') to disable them explicitly"
            )
        self.weights = {"valid": valid, "hole": hole, "perceptual": perceptual, "style": style, "tv": tv}
        self.tv_region = tv_region
        self.space = space
        self.features = features
        if features is not None:
            features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def to_space(self, image: Tensor) -> Tensor:
        return (image - self.mean) / self.std if self.space == "imagenet" else image

    def forward(self, output: Tensor, target: Tensor, hole: Tensor) -> dict[str, Tensor]:
        out, gt = self.to_space(output), self.to_space(target)
        comp = hole * out + (1.0 - hole) * gt
        terms = {
            "valid": valid_l1(out, gt, hole),
            "hole": hole_l1(out, gt, hole),
            "tv": total_variation(comp, hole, self.tv_region),
        }
        zero = out.new_zeros(())
        terms["perceptual"], terms["style"] = zero, zero
        if self.features is not None and (self.weights["perceptual"] or self.weights["style"]):
            terms["perceptual"], terms["style"] = self._feature_terms(out, comp, gt)
        terms["total"] = sum((self.weights[name] * terms[name] for name in self.weights), zero)
        return terms

    def _feature_terms(self, out: Tensor, comp: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
        """One pass of the extractor over [out; comp; gt], then L_perc and L_style_out + L_style_comp."""
        n = out.shape[0]
        perceptual, style = out.new_zeros(()), out.new_zeros(())
        for tap in self.features(torch.cat([out, comp, gt.detach()], dim=0)):
            f_out, f_comp, f_gt = tap[:n], tap[n : 2 * n], tap[2 * n :].detach()
            perceptual = perceptual + F.l1_loss(f_out, f_gt) + F.l1_loss(f_comp, f_gt)
            g_gt = gram_matrix(f_gt)
            style = style + F.l1_loss(gram_matrix(f_out), g_gt) + F.l1_loss(gram_matrix(f_comp), g_gt)
        return perceptual, style
