"""Streaming statistics with constant memory, the FID/KID formulas, and bootstrap intervals.

`SampleMean` and `GaussianStats` are torchmetrics `Metric`s whose states are sums and counts
(`dist_reduce_fx="sum"`), so they cost constant memory, merge (`merge_state`) and sync across
processes. FID statistics accumulate in float64 on the CPU (pitfall P2). The Frechet distance uses
a symmetric eigen-decomposition instead of `scipy.linalg.sqrtm`, so it never returns a complex
number; too few samples or non-finite statistics give `ScoreUnavailableError` with a clear message
(LaMa issues 266 and 344) instead of a crash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric


class ScoreUnavailableError(ValueError):
    """A statistic that cannot be computed from the data at hand (the message says why)."""


class SampleMean(Metric):
    """Mean of per-image values. +inf values (zero-error PSNR) are counted in `n_exact`, NaN values
    (e.g. hole L1 of an image without holes) in `n_missing`; neither enters the mean."""

    full_state_update = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # torchmetrics options, e.g. sync_on_compute
        for name in ("total", "total_sq", "count", "n_exact", "n_missing"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, values: Tensor) -> None:
        values = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
        finite = torch.isfinite(values)
        self.total += values[finite].sum()
        self.total_sq += values[finite].pow(2).sum()
        self.count += finite.sum()
        self.n_exact += (values == math.inf).sum()
        self.n_missing += torch.isnan(values).sum()

    def compute(self) -> Tensor:
        return self.total / self.count if self.count > 0 else torch.tensor(math.nan, dtype=torch.float64)


class GaussianStats(Metric):
    """Running float64 sum and sum of outer products of feature vectors: mean and covariance."""

    full_state_update = False

    def __init__(self, dims: int, **options: Any) -> None:
        super().__init__(**options)
        self.dims = dims
        self.add_state("n", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum", default=torch.zeros(dims, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("outer", default=torch.zeros(dims, dims, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, features: Tensor) -> None:
        x = torch.as_tensor(features).to(device="cpu", dtype=torch.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise ValueError(f"features must be (N,{self.dims}), got {tuple(x.shape)}")
        self.n += x.shape[0]
        self.sum += x.sum(dim=0)
        self.outer += x.T @ x

    def compute(self) -> tuple[Tensor, Tensor]:
        n = int(self.n)
        if n < 2:
            raise ScoreUnavailableError(f"covariance needs at least 2 images, this set has {n}")
        mean = self.sum / n
        cov = (self.outer - n * torch.outer(mean, mean)) / (n - 1)
        return mean, cov


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; tiny negative eigenvalues (round-off) are clipped to 0."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1-mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2), the pytorch-fid formula.

    tr((S1 S2)^1/2) is computed as the sum of square roots of the eigenvalues of the symmetric PSD
    matrix S1^1/2 S2 S1^1/2 (same eigenvalues as S1 S2), so the result is real even for singular
    covariances (fewer images than dimensions).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (mu1, sigma1, mu2, sigma2)]
    if not all(np.isfinite(a).all() for a in arrays):
        raise ScoreUnavailableError("feature statistics contain NaN or inf (a degenerate or corrupted feature set)")
    mu1, sigma1, mu2, sigma2 = arrays
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    sigma1 = (sigma1 + sigma1.T) / 2
    sigma2 = (sigma2 + sigma2.T) / 2
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_from_stats(real: GaussianStats, fake: GaussianStats) -> float:
    """FID between two accumulated feature sets (each needs at least 2 images)."""
    mu_r, cov_r = real.compute()
    mu_f, cov_f = fake.compute()
    return frechet_distance(mu_r.numpy(), cov_r.numpy(), mu_f.numpy(), cov_f.numpy())


class RowSource(Protocol):
    """Feature rows addressable by index arrays: a numpy array, or shard files read lazily."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: np.ndarray) -> np.ndarray: ...


def polynomial_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the KID kernel k(a,b) = (a.b / d + 1)^3 (Binkowski et al. 2018)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    off_diag = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(off_diag - 2.0 * k_xy.mean())


@dataclass(frozen=True)
class KIDResult:
    mean: float
    std: float
    subsets: int
    subset_size: int


def kid(real: RowSource, fake: RowSource, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KIDResult:
    """KID mean and std over `subsets` random subsets (without replacement) of each set.

    The subset size is min(subset_size, len(real), len(fake)); only the rows of one subset are in
    memory at a time, so features can stay on disk.
    """
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ScoreUnavailableError(
            f"KID needs at least 2 images per set, got {len(real)} real and {len(fake)} completed"
        )
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        real_idx = np.sort(rng.choice(len(real), size, replace=False))
        fake_idx = np.sort(rng.choice(len(fake), size, replace=False))
        values.append(polynomial_mmd(real[real_idx], fake[fake_idx]))
    scores = np.asarray(values)
    return KIDResult(float(scores.mean()), float(scores.std()), subsets, size)


# ----------------------------------------------------------------------------------------------
# bootstrap


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def _resampled_means(values: np.ndarray, resamples: int, seed: int, chunk: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = values.size
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean over images (resampling images with replacement)."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return Interval(math.nan, math.nan)
    means = _resampled_means(data, resamples, seed)
    alpha = (1.0 - level) / 2
    return Interval(float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha)))


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float
    high: float
    n: int
    verdict: str


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    higher_is_better: bool,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Mean of a - b over the same (image, mask) pairs with a bootstrap interval, and a verdict.

    Pairs where either value is not finite (a zero-error PSNR) are left out and not counted in `n`.
    The verdict is "A better" / "B better" when the interval excludes 0, respecting the direction.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.shape} vs {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    diff = x[keep] - y[keep]
    if diff.size == 0:
        return PairedDifference(math.nan, math.nan, math.nan, 0, "no data")
    means = _resampled_means(diff, resamples, seed)
    alpha = (1.0 - level) / 2
    low, high = float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))
    if low > 0 or high < 0:
        a_wins = (low > 0) == higher_is_better
        verdict = "A better" if a_wins else "B better"
    else:
        verdict = "no significant difference"
    return PairedDifference(float(diff.mean()), low, high, int(diff.size), verdict)
