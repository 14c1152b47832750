"""One pass of every metric over a batch of (real, completed, mask): per-sample values + features.

Per-image metrics (SSIM, PSNR, L1 whole / hole) are cheap and always recomputed. The expensive
network outputs (Inception pool features of real and completed images, LPIPS distances) are
cached by content hash: sha256 of the 8-bit image bytes plus the extractor's weight id, so the same
image never goes through a network twice, across masks, runs and metric configurations.
A backbone whose weights are missing is recorded in `unavailable` (one line naming the file and
cache path) and its metric is skipped; the others still run.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from inpaintbench.inpainter import to_uint8
from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.backbones import (
    BackboneUnavailableError,
    LPIPSMetric,
    build_inception_fid,
    build_lpips,
    extractor_id,
)
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.prepare import prepare_backbone
from inpaintbench.metrics.spec import IDS_METRICS, METRICS, lpips_metric
from inpaintbench.results import ArrayCache

FEATURE_NAMES = ("inception_real", "inception_fake")

#: Bump when a change to the metric code (a per-image formula's arithmetic, a backbone's preparation)
#: can move a value's bits. With torch's version it is part of the run hash and of every feature
#: cache key, so values of the old code are never resumed into, or served to, a run of the new.
#: 2: SSIM's blurs as blocked banded products, image by image.
METRIC_CODE_VERSION = 2


def metric_code_identity() -> dict[str, object]:
    """What, besides the config and the backbone weights, decides a metric value's bits."""
    return {"version": METRIC_CODE_VERSION, "torch": torch.__version__}


def image_hashes(images: Tensor) -> list[str]:
    """sha256 of each image's 8-bit HWC bytes (what a lossless PNG of it would hold)."""
    arrays = to_uint8(images).cpu().numpy()
    return [hashlib.sha256(a.tobytes()).hexdigest() for a in arrays]


@dataclass
class MetricSuite:
    """The configured metrics and their (optional) networks; `score` is the single pass."""

    config: MetricConfig
    inception: nn.Module | None = None
    lpips: dict[str, nn.Module] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cache: ArrayCache | None = None

    @classmethod
    def build(
        cls,
        config: MetricConfig,
        device: str | torch.device = "cpu",
        cache: ArrayCache | None = None,
        inception_factory: Callable[[], nn.Module] = build_inception_fid,
        lpips_factory: Callable[[str], nn.Module] = build_lpips,
    ) -> MetricSuite:
        """Build the networks from the cached weights, prepared for inference (`metrics.prepare`);
        a missing backbone marks its metrics unavailable."""
        device = torch.device(device)
        suite = cls(config=config, device=device, cache=cache)
        try:
            suite.inception = prepare_backbone(inception_factory().to(device).eval())
        except BackboneUnavailableError as missing:
            for spec in METRICS:
                if spec.backbone == "inception" and (config.ids.enabled or spec.name not in IDS_METRICS):
                    suite.unavailable[spec.name] = str(missing)
        for net in config.lpips_nets:
            try:
                suite.lpips[net] = prepare_backbone(lpips_factory(net).to(device).eval())
            except BackboneUnavailableError as missing:
                suite.unavailable[lpips_metric(net)] = str(missing)
        return suite

    def identity(self) -> dict[str, object]:
        """Metric config + extractor weight ids (or 'unavailable'): part of the run hash."""
        extractors = {"inception_fid": extractor_id(self.inception) if self.inception is not None else "unavailable"}
        for net in self.config.lpips_nets:
            module = self.lpips.get(net)
            extractors[lpips_metric(net)] = extractor_id(module) if module is not None else "unavailable"
        self._ids = extractors
        return {"metrics": self.config.identity(), "extractors": extractors, "code": metric_code_identity()}

    def _extractor_key(self, name: str) -> str:
        """The extractor's weight id and the metric code's identity: the feature cache key's prefix."""
        if not hasattr(self, "_ids"):
            self.identity()
        return f"{self._ids[name]}{self._code_key}"

    @functools.cached_property
    def _code_key(self) -> str:
        """The metric code's identity in the feature cache keys, computed once per suite (every batch
        builds keys)."""
        code = metric_code_identity()
        return f"@code{code['version']}/torch{code['torch']}"

    # -- cached network passes ---------------------------------------------------------------
    def _cached(self, keys: list[str], compute: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """Look every key up; compute the misses in one batch (in order) and store them."""
        found = [self.cache.get(k) if self.cache is not None else None for k in keys]
        misses = [i for i, value in enumerate(found) if value is None]
        if misses:
            fresh = compute(misses)
            for row, i in enumerate(misses):
                found[i] = fresh[row]
                if self.cache is not None:
                    self.cache.put(keys[i], fresh[row])
        return np.stack(found)

    def _inception(self, images: Tensor, hashes: list[str]) -> np.ndarray:
        ident = self._extractor_key("inception_fid")
        keys = [hashlib.sha256(f"inception:{ident}:{h}".encode()).hexdigest() for h in hashes]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)  # an image repeated in the batch (several masks) runs once
        order = list(first.values())

        def compute(misses: list[int]) -> np.ndarray:
            batch = images[[order[j] for j in misses]].to(self.device)
            with torch.inference_mode():
                out = [self.inception(chunk) for chunk in batch.split(self.config.feature_batch)]
            return torch.cat(out).float().cpu().numpy()

        values = self._cached(list(first), compute)
        by_key = dict(zip(first, values, strict=True))
        return np.stack([by_key[k] for k in keys]).astype(np.float32)

    def _lpips(
        self, net: str, real: Tensor, fake: Tensor, real_hashes: list[str], fake_hashes: list[str]
    ) -> np.ndarray:
        ident = self._extractor_key(lpips_metric(net))
        keys = [
            hashlib.sha256(f"lpips:{ident}:{r}:{f}".encode()).hexdigest()
            for r, f in zip(real_hashes, fake_hashes, strict=True)
        ]

        def compute(misses: list[int]) -> np.ndarray:
            module = self.lpips[net]
            with torch.inference_mode():
                if isinstance(module, LPIPSMetric):  # each distinct real image through the backbone once
                    first: dict[str, int] = {}  # real image hash -> its row among the distinct ones
                    unique: list[int] = []
                    for i in misses:
                        if real_hashes[i] not in first:
                            first[real_hashes[i]] = len(unique)
                            unique.append(i)
                    both = module.features(torch.cat([real[unique], fake[misses]]).to(self.device))
                    where = torch.tensor([first[real_hashes[i]] for i in misses], device=self.device)
                    values = module.distance([f[: len(unique)][where] for f in both], [f[len(unique) :] for f in both])
                else:
                    values = module(real[misses].to(self.device), fake[misses].to(self.device))
            return values.double().cpu().numpy().reshape(-1, 1)

        return self._cached(keys, compute).reshape(-1)

    # -- the pass ----------------------------------------------------------------------------
    def score(
        self, real: Tensor, fake: Tensor, mask: Tensor
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str]]]:
        """Per-sample metric values, feature arrays, and the content hashes of both images."""
        real, fake, mask = real.cpu(), fake.cpu(), mask.cpu()
        window, sigma = self.config.ssim_window, self.config.ssim_sigma
        values = {name: column.numpy() for name, column in fn.pixel_metrics(real, fake, mask, window, sigma).items()}
        hashes = {"real": image_hashes(real), "completed": image_hashes(fake)}
        for net, module in self.lpips.items():
            if module is not None:
                values[lpips_metric(net)] = self._lpips(net, real, fake, hashes["real"], hashes["completed"])
        features: dict[str, np.ndarray] = {}
        if self.inception is not None:
            # Real and completed images in separate calls: a real image's features are computed by
            # whichever batch (or rank) first misses the cache, so they must not depend on what else
            # is in that batch (one joint batch changed stand-in features across ranks in the last bit).
            features["inception_real"] = self._inception(real, hashes["real"])
            features["inception_fake"] = self._inception(fake, hashes["completed"])
        return values, features, hashes
