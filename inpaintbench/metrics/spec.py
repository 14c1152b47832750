"""The metric spec table: every reported metric once, in table order, with what each reader needs.

The suite, the evaluation table, the leaderboard, comparisons and the HTML report read this table
(name, column label, direction, decimals shown, the function that computes it); a new metric is one
row here plus its computation. `function` is the per-image function of `metrics.functional` for the
per-image metrics and None for the set-level ones (FID, KID, P-IDS / U-IDS: computed from features
in `aggregate`); `backbone` names the network whose absence makes the metric unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from inpaintbench.metrics import functional as fn


@dataclass(frozen=True)
class MetricSpec:
    name: str  # column in result rows, CSVs and golden files
    label: str  # column header in tables and the report
    higher_is_better: bool
    decimals: int  # digits shown in tables (the stored value keeps full precision)
    per_image: bool  # a value per image (bootstrap intervals, paired comparisons) vs. one per set
    function: Callable[..., object] | None = None  # the per-image function; None: computed by a backbone/aggregate
    backbone: str | None = None  # "inception" / "lpips": unavailable without that network's weights


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ssim", "SSIM", True, 4, True, fn.ssim),
    MetricSpec("psnr", "PSNR", True, 2, True, fn.psnr_from_mse),
    MetricSpec("l1_whole", "L1 (whole)", False, 4, True, fn.l1_whole),
    MetricSpec("l1_hole", "L1 (hole)", False, 4, True, fn.l1_hole),
    MetricSpec("lpips_alex", "LPIPS-alex", False, 4, True, backbone="lpips"),
    MetricSpec("lpips_vgg", "LPIPS-vgg", False, 4, True, backbone="lpips"),
    MetricSpec("fid", "FID", False, 2, False, backbone="inception"),
    MetricSpec("kid", "KID", False, 4, False, backbone="inception"),
    MetricSpec("p_ids", "P-IDS", True, 4, False, backbone="inception"),
    MetricSpec("u_ids", "U-IDS", True, 4, False, backbone="inception"),
)

#: name -> spec, in table order
SPECS: MappingProxyType[str, MetricSpec] = MappingProxyType({spec.name: spec for spec in METRICS})

#: metrics that need the configured P-IDS / U-IDS pass (`ids.enabled`)
IDS_METRICS: tuple[str, ...] = ("p_ids", "u_ids")


def lpips_metric(net: str) -> str:
    """The column of LPIPS on `net` (alex, vgg)."""
    return f"lpips_{net}"


def per_image_metrics(lpips_nets: Sequence[str]) -> list[str]:
    """The per-image metrics of a configuration: table order, then LPIPS on the configured nets in
    their configured order (result rows keep that order)."""
    fixed = [s.name for s in METRICS if s.per_image and s.backbone != "lpips"]
    return [*fixed, *(lpips_metric(net) for net in lpips_nets)]


def metric_order(metrics: Sequence[str]) -> list[str]:
    """`metrics` in table order (unknown names dropped)."""
    return [name for name in SPECS if name in metrics]


def arrow(name: str) -> str:
    """' ↑' when higher is better, ' ↓' otherwise."""
    return " ↑" if SPECS[name].higher_is_better else " ↓"
