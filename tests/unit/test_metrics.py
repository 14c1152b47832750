"""Per-image metrics against skimage/numpy, FID/KID against direct references, streaming merges, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintbench.inpainter import complete
from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.stats import (
    GaussianStats,
    SampleMean,
    ScoreUnavailableError,
    bootstrap_ci,
    fid_from_stats,
    frechet_distance,
    kid,
    paired_bootstrap,
)


def _pair(seed: int, size: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.round(torch.rand(2, 3, size, size, generator=g) * 255) / 255
    mask = (torch.rand(2, 1, size, size, generator=g) > 0.6).float()
    pred = torch.rand(2, 3, size, size, generator=g)
    return real, complete(real, mask, pred), mask


def _real_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A natural image (skimage's astronaut) and a blurred-hole completion of it."""
    from skimage import data, filters

    image = data.astronaut()[::4, ::4].astype(np.float64) / 255.0
    blurred = filters.gaussian(image, sigma=2, channel_axis=-1)
    hole = np.zeros(image.shape[:2], bool)
    hole[40:90, 30:100] = True
    fake = np.where(hole[..., None], blurred, image)
    to_t = lambda a: torch.from_numpy(np.round(a * 255) / 255).permute(2, 0, 1)[None].float()  # noqa: E731
    return to_t(image), to_t(fake)


def _skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    x, y = (t.permute(1, 2, 0).double().numpy() for t in (a, b))
    return structural_similarity(
        x, y, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_and_psnr_match_skimage_on_random_pairs(seed: int) -> None:
    real, fake, _ = _pair(seed)
    ours_ssim, ours_psnr = fn.ssim(real, fake), fn.psnr(real, fake)
    for i in range(real.shape[0]):
        assert ours_ssim[i].item() == pytest.approx(_skimage_ssim(real[i], fake[i]), abs=1e-5)
        ref = peak_signal_noise_ratio(real[i].double().numpy(), fake[i].double().numpy(), data_range=1.0)
        assert ours_psnr[i].item() == pytest.approx(ref, abs=1e-5)


def test_ssim_and_psnr_match_skimage_on_a_real_image() -> None:
    real, fake = _real_pair()
    assert fn.ssim(real, fake)[0].item() == pytest.approx(_skimage_ssim(real[0], fake[0]), abs=1e-5)
    ref = peak_signal_noise_ratio(real[0].double().numpy(), fake[0].double().numpy(), data_range=1.0)
    assert fn.psnr(real, fake)[0].item() == pytest.approx(ref, abs=1e-5)
    assert 0.5 < fn.ssim(real, fake)[0].item() < 1.0


def _dense_ssim(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SSIM with the window as one dense (out x in) banded matrix per axis and five blurred moments:
    the textbook formula, unblocked (what `fn.ssim` computed before its blocked GEMMs)."""
    kernel = fn.gaussian_kernel_1d()

    def band(length: int) -> torch.Tensor:
        out = length - kernel.numel() + 1
        matrix = torch.zeros(out, length, dtype=torch.float64)
        for i in range(out):
            matrix[i, i : i + kernel.numel()] = kernel
        return matrix

    x, y = real.double(), fake.double()
    moments = band(x.shape[-2]) @ torch.cat([x, y, x * x, y * y, x * y], dim=1) @ band(x.shape[-1]).T
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    c1, c2 = fn.SSIM_K1**2, fn.SSIM_K2**2
    top = (2 * mu_x * mu_y + c1) * (2 * (xy - mu_x * mu_y) + c2)
    return (top / ((mu_x**2 + mu_y**2 + c1) * (xx - mu_x**2 + yy - mu_y**2 + c2))).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("size", [(11, 11), (32, 40), (75, 64), (256, 256), (300, 140)])
def test_blocked_ssim_equals_the_dense_formula_and_ignores_the_rest_of_the_batch(size: tuple[int, int]) -> None:
    """Blocked banded GEMMs (any image size, partial last block) = the dense formula to float64
    rounding; an image's SSIM is bit-identical whatever else shares its batch."""
    g = torch.Generator().manual_seed(3)
    real = torch.round(torch.rand(3, 3, *size, generator=g) * 255) / 255
    fake = (real + 0.05 * torch.randn(3, 3, *size, generator=g)).clamp(0, 1)
    fake[2] = torch.rand(3, *size, generator=g)
    got = fn.ssim(real, fake)
    torch.testing.assert_close(got, _dense_ssim(real, fake), rtol=0, atol=1e-13)
    for i in range(3):
        assert torch.equal(fn.ssim(real[i : i + 1], fake[i : i + 1]), got[i : i + 1])
    assert torch.equal(fn.ssim(real[[2, 0]], fake[[2, 0]]), got[[2, 0]])


def test_l1_whole_and_hole_equal_numpy() -> None:
    real, fake, mask = _pair(3)
    r, f, m = real.double().numpy(), fake.double().numpy(), mask.numpy().astype(bool)
    for i in range(2):
        diff = np.abs(r[i] - f[i])
        assert fn.l1_whole(real, fake)[i].item() == pytest.approx(diff.mean(), abs=1e-12)
        hole = np.broadcast_to(m[i], diff.shape)
        assert fn.l1_hole(real, fake, mask)[i].item() == pytest.approx(diff[hole].mean(), abs=1e-12)
    assert math.isnan(fn.l1_hole(real, fake, torch.zeros_like(mask))[0].item())


def test_per_image_psnr_mean_differs_from_pooled_psnr() -> None:
    """One near-perfect and one poor image: mean of PSNRs (averaged) != PSNR of the pooled MSE (Jensen)."""
    real = torch.zeros(2, 3, 16, 16)
    fake = real.clone()
    fake[0] += 1 / 255  # MSE 1.5e-5 -> 48.1 dB
    fake[1] += 0.25  # MSE 0.0625 -> 12.0 dB
    per_image = fn.psnr(real, fake)
    assert per_image.mean().item() == pytest.approx((48.1308 + 12.0412) / 2, abs=1e-3)
    assert fn.pooled_psnr(real, fake) == pytest.approx(15.05, abs=1e-2)
    assert per_image.mean().item() - fn.pooled_psnr(real, fake) > 15


def test_zero_error_psnr_is_counted_not_averaged() -> None:
    real = torch.rand(3, 3, 16, 16)
    fake = real.clone()
    fake[1] = (fake[1] + 0.1).clamp(0, 1)
    stat = SampleMean()
    stat.update(fn.psnr(real, fake))
    assert int(stat.n_exact) == 2 and int(stat.count) == 1
    assert stat.compute().item() == pytest.approx(fn.psnr(real[1:2], fake[1:2]).item())


def _pytorch_fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid's formula with scipy.linalg.sqrtm (np.cov statistics)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class StandInExtractor(torch.nn.Module):
    """A fixed random projection of pooled pixels, standing in for InceptionV3 (no weights needed)."""

    def __init__(self, dims: int = 16) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.proj = torch.nn.Parameter(torch.randn(3 * 4 * 4, dims, generator=g), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) @ self.proj


def test_fid_through_a_standin_extractor_matches_scipy_sqrtm_reference() -> None:
    g = torch.Generator().manual_seed(0)
    extractor = StandInExtractor()
    real_images = torch.rand(64, 3, 32, 32, generator=g)
    fake_images = (real_images + 0.2 * torch.rand(64, 3, 32, 32, generator=g)).clamp(0, 1)
    with torch.inference_mode():
        real_f, fake_f = extractor(real_images).double(), extractor(fake_images).double()
    real_stats, fake_stats = GaussianStats(16), GaussianStats(16)
    for chunk in real_f.split(10):  # streaming, in uneven chunks
        real_stats.update(chunk)
    fake_stats.update(fake_f)
    ours = fid_from_stats(real_stats, fake_stats)
    assert ours == pytest.approx(_pytorch_fid_reference(real_f.numpy(), fake_f.numpy()), abs=1e-6)
    assert ours > 0


def test_frechet_distance_is_real_on_singular_covariances_and_degenerate_sets_raise() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 32)), rng.normal(size=(5, 32))  # N < d: rank-deficient covariances
    value = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert isinstance(value, float) and math.isfinite(value)
    one = GaussianStats(32)
    one.update(torch.from_numpy(a[:1]))
    with pytest.raises(ScoreUnavailableError, match="at least 2 images"):
        fid_from_stats(one, one)
    with pytest.raises(ScoreUnavailableError, match="NaN or inf"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))


def test_kid_equals_direct_numpy_computation() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 8)), rng.normal(0.3, 1.0, size=(30, 8))
    ours = kid(real, fake, subsets=5, subset_size=20, seed=3)
    picks = np.random.default_rng(3)
    values = []
    for _ in range(5):
        x = real[np.sort(picks.choice(40, 20, replace=False))]
        y = fake[np.sort(picks.choice(30, 20, replace=False))]
        kxx, kyy, kxy = ((u @ v.T / 8 + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        m = 20
        mmd = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(mmd - 2 * kxy.sum() / m**2)
    assert ours.mean == pytest.approx(np.mean(values), abs=1e-12)
    assert ours.std == pytest.approx(np.std(values), abs=1e-12)
    far = kid(real, fake + 3.0, subsets=5, subset_size=20, seed=3)
    assert far.mean > ours.mean


def test_merging_two_halves_equals_the_whole() -> None:
    """The multi-process invariant: states of two shards, merged, give the single-process result."""
    rng = np.random.default_rng(2)
    feats, vals = torch.from_numpy(rng.normal(size=(50, 8))), torch.from_numpy(rng.normal(size=50))
    vals[3] = math.inf
    whole_g, whole_m = GaussianStats(8), SampleMean()
    whole_g.update(feats)
    whole_m.update(vals)
    first_g, second_g, first_m, second_m = GaussianStats(8), GaussianStats(8), SampleMean(), SampleMean()
    first_g.update(feats[:20])
    second_g.update(feats[20:])
    first_m.update(vals[:20])
    second_m.update(vals[20:])
    first_g.merge_state(second_g)
    first_m.merge_state(second_m)
    assert first_g.n.item() == whole_g.n.item() == 50
    torch.testing.assert_close(first_g.outer, whole_g.outer, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(first_g.sum, whole_g.sum, rtol=1e-13, atol=1e-12)
    assert first_m.compute().item() == pytest.approx(whole_m.compute().item(), abs=1e-14)
    assert int(first_m.n_exact) == int(whole_m.n_exact) == 1


def test_bootstrap_of_a_constant_is_a_point() -> None:
    interval = bootstrap_ci([0.1] * 37, resamples=200, seed=0)
    assert interval.low == interval.high == pytest.approx(0.1, abs=1e-15)


def test_bootstrap_interval_has_nominal_coverage_on_a_seeded_simulation() -> None:
    rng = np.random.default_rng(123)
    trials, hits = 300, 0
    for trial in range(trials):
        sample = rng.exponential(scale=2.0, size=80)  # skewed, true mean 2.0
        interval = bootstrap_ci(sample, resamples=400, seed=trial)
        hits += interval.low <= 2.0 <= interval.high
    assert 0.90 <= hits / trials <= 0.98


def test_paired_bootstrap_verdict_respects_metric_direction() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    better = base + 0.5 + 0.05 * rng.normal(size=200)
    assert paired_bootstrap(better, base, higher_is_better=True).verdict == "A better"
    assert paired_bootstrap(better, base, higher_is_better=False).verdict == "B better"  # e.g. L1
    same = paired_bootstrap(base + 0.01 * rng.normal(size=200), base, higher_is_better=True)
    assert same.verdict == "no significant difference" and same.low < 0 < same.high
    with_inf = paired_bootstrap([math.inf, 1.0, 2.0], [1.0, 1.0, 1.0], higher_is_better=True)
    assert with_inf.n == 2
