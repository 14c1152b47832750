"""The metric spec table is what the suite computes and what the tables print."""

from __future__ import annotations

import numpy as np
import torch

from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.spec import METRICS, SPECS, metric_order, per_image_metrics
from inpaintbench.metrics.suite import MetricSuite


def test_per_image_functions_are_the_ones_the_suite_uses() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(3, 3, 32, 40, generator=generator)
    fake = (real + 0.1 * torch.rand(3, 3, 32, 40, generator=generator)).clamp(0, 1)
    mask = torch.zeros(3, 1, 32, 40)
    mask[..., 8:20, 10:30] = 1
    values, _, _ = MetricSuite(config=MetricConfig()).score(real, fake, mask)
    inputs = {
        "ssim": (real, fake),
        "psnr": (fn.mse(real, fake),),
        "l1_whole": (real, fake),
        "l1_hole": (real, fake, mask),
    }
    computed = [spec for spec in METRICS if spec.function is not None]
    assert [spec.name for spec in computed] == list(inputs)
    for spec in computed:
        np.testing.assert_array_equal(values[spec.name], spec.function(*inputs[spec.name]).numpy())
    assert [name for name in values if name in SPECS] == per_image_metrics(())  # no LPIPS net built


def test_order_labels_and_lpips_columns() -> None:
    assert per_image_metrics(("vgg", "alex")) == ["ssim", "psnr", "l1_whole", "l1_hole", "lpips_vgg", "lpips_alex"]
    assert metric_order(["kid", "lpips_vgg", "ssim", "unknown"]) == ["ssim", "lpips_vgg", "kid"]
    assert len({spec.label for spec in METRICS}) == len(METRICS)
    assert all(spec.per_image == (spec.function is not None or spec.backbone == "lpips") for spec in METRICS)
