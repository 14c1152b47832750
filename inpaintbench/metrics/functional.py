"""Per-image metric functions on a batch of completed images (pitfalls P5, P7-P10 as named choices).

All functions take `real` and `fake` float tensors (N,3,H,W) on [0,1] (data range 1, RGB, never Y)
and return one value per image, computed in float64 so the numbers do not depend on batch size.

- SSIM `ssim@gauss11-valid`: Gaussian window 11x11, sigma 1.5 (Wang et al. 2004), K1=0.01, K2=0.03,
  population (not sample) covariance, per channel, evaluated only where the whole window fits
  (the 5-px "valid" crop of MMagic/MAT, identical to skimage's `gaussian_weights=True` result), then
  the mean over channels and pixels.
- PSNR: per image from that image's MSE, data range 1; a zero-MSE image gives +inf here and is
  counted separately by the aggregator (`n_exact`), never averaged.
- L1: two named variants, over the whole image and over hole pixels only (mean absolute error in
  [0,1] units, not x100); an image without holes has an undefined hole L1 (NaN, left out of means).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0


def _check_pair(real: Tensor, fake: Tensor) -> None:
    if real.shape != fake.shape or real.ndim != 4:
        raise ValueError(
            f"real and fake must be equal (N,C,H,W) tensors, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )


def _check_ssim_size(real: Tensor, window: int) -> None:
    if min(real.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window}, got {tuple(real.shape[-2:])}")


def _check_mask(real: Tensor, mask: Tensor) -> None:
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != real.shape[-2:]:
        raise ValueError(f"mask must be (N,1,H,W) matching the images, got {tuple(mask.shape)}")


def gaussian_kernel_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalised 1-D Gaussian (float64); the 2-D window is its outer product (separable)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _valid_filter_matrix(kernel: Tensor, length: int) -> Tensor:
    """Banded matrix applying a 1-D correlation with `kernel` at every position where it fits."""
    size = kernel.numel()
    out = length - size + 1
    matrix = torch.zeros(out, length, dtype=kernel.dtype, device=kernel.device)
    index = torch.arange(out, device=kernel.device)[:, None] + torch.arange(size, device=kernel.device)[None, :]
    matrix.scatter_(1, index, kernel.expand(out, size))
    return matrix


def ssim(real: Tensor, fake: Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Per-image SSIM (N,), see the module docstring for the exact variant."""
    _check_pair(real, fake)
    _check_ssim_size(real, window)
    return _ssim64(real.to(torch.float64), fake.to(torch.float64), window, sigma)


def _ssim64(x: Tensor, y: Tensor, window: int, sigma: float) -> Tensor:
    """SSIM of float64 images (shared by `ssim` and `pixel_metrics`)."""
    # the five local moments, blurred by the separable window as two banded matrix products
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    kernel = gaussian_kernel_1d(window, sigma).to(x.device)
    rows = _valid_filter_matrix(kernel, x.shape[-2])  # (H-w+1, H)
    cols = _valid_filter_matrix(kernel, x.shape[-1])  # (W-w+1, W)
    blurred = rows @ stacked @ cols.T  # BLAS matmuls: fast in float64, unlike depthwise conv
    mu_x, mu_y, xx, yy, xy = blurred.chunk(5, dim=1)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def mse(real: Tensor, fake: Tensor) -> Tensor:
    """Per-image mean squared error (N,) in float64."""
    _check_pair(real, fake)
    return (real.to(torch.float64) - fake.to(torch.float64)).pow(2).mean(dim=(1, 2, 3))


def psnr_from_mse(error: Tensor) -> Tensor:
    """PSNR in dB for data range 1; +inf where the MSE is exactly zero."""
    return 10.0 * torch.log10(DATA_RANGE**2 / error)


def psnr(real: Tensor, fake: Tensor) -> Tensor:
    """Per-image PSNR (N,); +inf for identical images (the aggregator counts those as `n_exact`)."""
    return psnr_from_mse(mse(real, fake))


def pooled_psnr(real: Tensor, fake: Tensor) -> float:
    """PSNR of the MSE pooled over all images (torchmetrics' default `dim=None`); shown only to contrast."""
    return float(psnr_from_mse(mse(real, fake).mean()))


def l1_whole(real: Tensor, fake: Tensor) -> Tensor:
    """Per-image mean |real - fake| over all pixels and channels (N,)."""
    _check_pair(real, fake)
    return (real.to(torch.float64) - fake.to(torch.float64)).abs().mean(dim=(1, 2, 3))


def l1_hole(real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean |real - fake| over hole pixels only (mask 1 = hole) (N,); NaN without holes."""
    _check_pair(real, fake)
    _check_mask(real, mask)
    hole = mask.to(torch.float64)
    diff = (real.to(torch.float64) - fake.to(torch.float64)).abs() * hole
    count = hole.sum(dim=(1, 2, 3)) * real.shape[1]
    total = diff.sum(dim=(1, 2, 3))
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, math.nan))


def pixel_metrics(
    real: Tensor, fake: Tensor, mask: Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> dict[str, Tensor]:
    """SSIM, MSE, PSNR and both L1s of a batch in one pass: the float64 images and their difference
    are computed once and shared (each value bit-identical to its function above)."""
    _check_pair(real, fake)
    _check_ssim_size(real, window)
    _check_mask(real, mask)
    x, y = real.to(torch.float64), fake.to(torch.float64)
    diff = x - y
    error = diff.pow(2).mean(dim=(1, 2, 3))
    absolute = diff.abs()
    hole = mask.to(torch.float64)
    count = hole.sum(dim=(1, 2, 3)) * real.shape[1]
    total = (absolute * hole).sum(dim=(1, 2, 3))
    return {
        "ssim": _ssim64(x, y, window, sigma),
        "mse": error,
        "psnr": psnr_from_mse(error),
        "l1_whole": absolute.mean(dim=(1, 2, 3)),
        "l1_hole": torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, math.nan)),
    }
