"""The metric configuration (conf/metrics/*.yaml) as a validated, frozen value.

Every choice that changes a number is a field here, is written into the run hash and into each
result's provenance, and is checked: a value this code does not implement is rejected with one
line rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from inpaintbench.metrics.errors import MetricConfigError
from inpaintbench.metrics.ids import IDSConfig
from inpaintbench.metrics.spec import per_image_metrics

_FIXED = {
    "ssim_color": "rgb",
    "ssim_border": "valid",
    "data_range": 1.0,
    "fid_extractor": "inception_fid",
    "fid_resize": "bilinear-299-no-antialias",
    "fid_accumulate": "float64",
    "region": "composite-8bit-round",
    "psnr_aggregate": "per_image_mean",
}


@dataclass(frozen=True)
class MetricConfig:
    name: str = "default"
    version: int = 1
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    lpips_nets: tuple[str, ...] = ("alex",)
    fid_min_n: int = 2048
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    bootstrap_resamples: int = 1000
    bootstrap_level: float = 0.95
    bootstrap_seed: int = 0
    feature_batch: int = 32
    ids: IDSConfig = field(default_factory=IDSConfig)
    fixed: dict[str, Any] = field(default_factory=lambda: dict(_FIXED))

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> MetricConfig:
        """Read conf/metrics/<name>.yaml (nested groups) into the flat, validated form."""
        cfg = dict(cfg or {})
        ssim = dict(cfg.get("ssim", {}))
        lpips = dict(cfg.get("lpips", {}))
        fid = dict(cfg.get("fid", {}))
        kid = dict(cfg.get("kid", {}))
        boot = dict(cfg.get("bootstrap", {}))
        checks = {
            "ssim_color": ssim.get("color", "rgb"),
            "ssim_border": ssim.get("border", "valid"),
            "data_range": float(cfg.get("data_range", 1.0)),
            "fid_extractor": fid.get("extractor", "inception_fid"),
            "fid_resize": fid.get("resize", "bilinear-299-no-antialias"),
            "fid_accumulate": fid.get("accumulate", "float64"),
            "region": cfg.get("region", "composite-8bit-round"),
            "psnr_aggregate": dict(cfg.get("psnr", {})).get("aggregate", "per_image_mean"),
        }
        for key, value in checks.items():
            if value != _FIXED[key]:
                raise MetricConfigError(f"metrics config: {key}={value!r} is not implemented (only {_FIXED[key]!r})")
        nets = tuple(lpips.get("nets", ("alex",)))
        for net in nets:
            if net not in ("alex", "vgg"):
                raise MetricConfigError(f"metrics config: unknown LPIPS net {net!r} (known: alex, vgg)")
        level = float(boot.get("level", 0.95))
        if not 0.5 < level < 1.0:
            raise MetricConfigError(f"metrics config: bootstrap.level must be in (0.5, 1), got {level}")
        return cls(
            name=str(cfg.get("name", "default")),
            version=int(cfg.get("version", 1)),
            ssim_window=int(ssim.get("window", 11)),
            ssim_sigma=float(ssim.get("sigma", 1.5)),
            lpips_nets=nets,
            fid_min_n=int(fid.get("min_n", 2048)),
            kid_subsets=int(kid.get("subsets", 100)),
            kid_subset_size=int(kid.get("subset_size", 1000)),
            bootstrap_resamples=int(boot.get("resamples", 1000)),
            bootstrap_level=level,
            bootstrap_seed=int(boot.get("seed", 0)),
            feature_batch=int(cfg.get("feature_batch", 32)),
            ids=IDSConfig.from_cfg(cfg.get("ids")),
        )

    def identity(self) -> dict[str, Any]:
        """What the run hash covers (everything but the execution-only `feature_batch`)."""
        data = asdict(self)
        data.pop("feature_batch")
        data["lpips_nets"] = list(self.lpips_nets)
        if not self.ids.enabled:
            data.pop("ids")  # runs made before P-IDS/U-IDS existed keep their hash
        return data

    @property
    def per_image_metrics(self) -> list[str]:
        return per_image_metrics(self.lpips_nets)
