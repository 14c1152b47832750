"""Prepared (folded, fused) metric backbones and the shared-work metric pass compute what the
unprepared ones do: features to 1e-6 relative, per-image metrics bit for bit, cache ids unchanged."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inpaintbench.metrics import backbones
from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.prepare import ConvReLU, fold_batch_norm, prepare_backbone
from inpaintbench.metrics.suite import MetricSuite
from inpaintbench.results import ArrayCache


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.fixture(scope="module")
def inception() -> nn.Module:
    """The FID Inception with random weights and non-trivial batch-norm statistics (so folding matters)."""
    torch.manual_seed(0)
    model = backbones.build_inception_fid(backbones._fid_inception_net().state_dict())
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


def _lpips() -> nn.Module:
    from torchvision.models import alexnet

    torch.manual_seed(1)
    return backbones.build_lpips("alex", backbone=alexnet(weights=None).state_dict())


def test_batch_norm_fold_equals_conv_then_batch_norm() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6, eps=1e-3).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    weight, bias = fold_batch_norm(conv, bn)
    x = torch.randn(2, 4, 9, 9)
    with torch.inference_mode():
        fused = ConvReLU(weight, bias, (1, 1), (1, 1))(x)
        torch.testing.assert_close(fused, torch.relu(bn(conv(x))), rtol=1e-6, atol=1e-6)


def test_prepared_inception_equals_the_published_layout_and_keeps_its_cache_id(inception: nn.Module) -> None:
    prepared = prepare_backbone(copy.deepcopy(inception))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    assert sum(isinstance(m, ConvReLU) for m in prepared.modules()) == 94
    assert backbones.extractor_id(prepared) == backbones.extractor_id(inception)
    images = torch.rand(2, 3, 64, 80)
    with torch.inference_mode():
        expected, got = inception(images), prepared(images)
    assert got.shape == (2, 2048) and got.is_contiguous()
    assert _relative(got, expected) < 1e-6


def test_prepared_lpips_equals_the_lpips_package_network() -> None:
    plain = _lpips()
    prepared = prepare_backbone(copy.deepcopy(plain))
    assert sum(isinstance(m, ConvReLU) for m in prepared.modules()) == 5
    assert backbones.extractor_id(prepared) == backbones.extractor_id(plain)
    real, fake = torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64)
    with torch.inference_mode():
        assert _relative(prepared(real, fake), plain(real, fake)) < 1e-6
        assert torch.all(prepared(real, real) == 0)


def test_a_module_without_fusable_layers_is_left_as_it_is() -> None:
    stand_in = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    before = backbones.extractor_id(stand_in)
    assert prepare_backbone(stand_in) is stand_in and not hasattr(stand_in, "weights_id")
    assert backbones.extractor_id(stand_in) == before


def test_pixel_metrics_in_one_pass_are_bit_identical_to_the_separate_functions() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(3, 3, 32, 40, generator=g), torch.rand(3, 3, 32, 40, generator=g)
    mask = (torch.rand(3, 1, 32, 40, generator=g) > 0.6).float()
    mask[2] = 0  # no hole: NaN hole L1
    got = fn.pixel_metrics(real, fake, mask)
    expected = {
        "ssim": fn.ssim(real, fake),
        "mse": fn.mse(real, fake),
        "psnr": fn.psnr(real, fake),
        "l1_whole": fn.l1_whole(real, fake),
        "l1_hole": fn.l1_hole(real, fake, mask),
    }
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert torch.equal(got[name].isnan(), value.isnan()), name
        assert torch.equal(torch.nan_to_num(got[name]), torch.nan_to_num(value)), name


class _Counting(nn.Module):
    """Wraps an extractor and counts the images it is given."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.images = inner, 0
        self.dims = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.inner(x)


def test_cached_real_features_are_reused_across_masks_with_identical_values(
    inception: nn.Module, tmp_path: Path
) -> None:
    """Two masks of one image: with the content cache the real image goes through Inception once,
    and every per-sample value equals the uncached pass."""
    g = torch.Generator().manual_seed(0)
    real = torch.round(torch.rand(1, 3, 48, 48, generator=g) * 255).div(255).expand(2, -1, -1, -1)
    masks = torch.zeros(2, 1, 48, 48)
    for k in range(2):
        masks[k, :, 8 * k : 8 * k + 16, 10:30] = 1
    completed = torch.where(masks > 0, torch.round(torch.rand(2, 3, 48, 48, generator=g) * 255) / 255, real)
    prepared = prepare_backbone(copy.deepcopy(inception))
    results = {}
    for name, cache in (("plain", None), ("cached", ArrayCache(tmp_path / "features"))):
        counting = _Counting(prepared)
        suite = MetricSuite(MetricConfig(lpips_nets=()), inception=counting, cache=cache)
        suite._ids = {"inception_fid": backbones.extractor_id(prepared)}
        rows = [suite.score(real[k : k + 1], completed[k : k + 1], masks[k : k + 1]) for k in range(2)]
        results[name] = (rows, counting.images)
    (plain, plain_images), (cached, cached_images) = results["plain"], results["cached"]
    assert plain_images == 4 and cached_images == 3  # real once + two completed images
    for (values_a, features_a, hashes_a), (values_b, features_b, hashes_b) in zip(plain, cached, strict=True):
        assert hashes_a == hashes_b
        for name in values_a:
            np.testing.assert_array_equal(values_a[name], values_b[name])
        for name in features_a:
            np.testing.assert_allclose(features_b[name], features_a[name], rtol=1e-6, atol=1e-6)


def test_lpips_halves_equal_the_package_forward_and_shared_real_images_match() -> None:
    """`features` + `distance` are lpips' own ops; the suite runs each distinct real image once."""
    model = prepare_backbone(_lpips())
    g = torch.Generator().manual_seed(2)
    real = torch.rand(2, 3, 64, 64, generator=g)[[0, 0, 1, 0]]  # three masks of image 0, one of image 1
    fake = torch.rand(4, 3, 64, 64, generator=g)
    with torch.inference_mode():
        expected = model.lpips(real, fake, normalize=True).flatten()
        assert torch.equal(model.distance(model.features(real), model.features(fake)), expected)
    suite = MetricSuite(MetricConfig(), lpips={"alex": model})
    values, _, _ = suite.score(real, fake, torch.ones(4, 1, 64, 64))
    np.testing.assert_allclose(values["lpips_alex"], expected.double().numpy(), rtol=1e-6, atol=1e-7)


def test_a_used_prepared_backbone_copies_and_pickles() -> None:
    """Spawned ranks and copies get the module without its oneDNN-packed weights, and equal outputs."""
    import pickle

    model = prepare_backbone(_lpips())
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        expected = model(real, fake)
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert torch.equal(clone(real, fake), expected)


def test_prepared_features_do_not_depend_on_what_else_is_in_the_batch(inception: nn.Module) -> None:
    """An image's Inception features and its pixel metrics are bit-identical alone, in a larger
    batch and at another position (whichever rank or batch first misses the cache stores the same
    bytes); LPIPS agrees to float32 rounding only: its linear heads are the lpips package's plain
    1x1 convolutions, which round differently with the batch size when torch runs several threads."""
    g = torch.Generator().manual_seed(4)
    images, others = (torch.round(torch.rand(3, 3, 48, 48, generator=g) * 255) / 255 for _ in range(2))
    prepared = prepare_backbone(copy.deepcopy(inception))
    with torch.inference_mode():
        alone = torch.cat([prepared(images[i : i + 1]) for i in range(3)])
        assert torch.equal(prepared(images), alone)
        assert torch.equal(prepared(torch.cat([others, images[[2, 0]]]))[3:], alone[[2, 0]])
    images, others = (torch.round(torch.rand(3, 3, 128, 128, generator=g) * 255) / 255 for _ in range(2))
    suite = MetricSuite(MetricConfig(), lpips={"alex": prepare_backbone(_lpips())})
    masks = (torch.rand(3, 1, 128, 128, generator=g) > 0.5).float()
    batch, _, _ = suite.score(images, others, masks)
    for rows in ([0], [1], [2], [2, 0]):
        values, _, _ = suite.score(images[rows], others[rows], masks[rows])
        for name, column in batch.items():
            if name == "lpips_alex":
                np.testing.assert_allclose(values[name], column[rows], rtol=1e-6, err_msg=f"{name} {rows}")
            else:
                np.testing.assert_array_equal(values[name], column[rows], err_msg=f"{name} {rows}")
