"""The metric runner: any inpainter x dataset x mask protocol -> shards -> per-bin table.

Steps, each done once: pair every image with its protocol samples (canonical order = the
protocol's sample order), render each mask at the image's final size, measure its hole ratio and
bin, `pred = model.inpaint(image, mask)`, `completed = complete(image, mask, pred)` (composite +
8-bit rounding), then one `MetricSuite.score` pass. Shard k holds samples [k*S, (k+1)*S); done
shards are skipped, so a rerun resumes and ends with the identical table (see results.py).
Completed images are cached by (sample key, model key), so a new metric configuration reuses them
instead of re-running the model.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from inpaintbench.inpainter import complete, to_uint8
from inpaintbench.metrics.aggregate import Summary, summarize
from inpaintbench.metrics.saved_images import ShardImages, all_saved
from inpaintbench.metrics.suite import FEATURE_NAMES, MetricSuite
from inpaintbench.results import ArrayCache, RunKey, RunStore, stable_hash


@dataclass
class EvalContext:
    """Everything the loop needs, built from a config (or directly by tests with stand-ins)."""

    model: Any
    model_name: str
    model_key: str
    dataset: Any
    image_ids: list[str]
    protocol: Any
    suite: MetricSuite
    data_identity: dict[str, Any]
    hole_ratio: Callable[[np.ndarray], float]
    ratio_bin: Callable[[float], str]
    ratio_bins: Sequence[str]
    device: torch.device
    batch_size: int = 8
    shard_size: int = 64
    completed_cache: ArrayCache | None = None
    progress: bool = True
    save_images: bool = False  # every completed image as PNG; otherwise only what the report's grids show


def dataset_ids(dataset: Any) -> list[str]:
    """The dataset's image ids in its deterministic order (an `ids` attribute, else read item by item)."""
    for attribute in ("ids", "image_ids"):
        ids = getattr(dataset, attribute, None)
        if ids is not None:
            return [str(i) for i in ids]
    return [str(dataset[i]["id"]) for i in range(len(dataset))]


def model_key(name: str, args: Mapping[str, Any], model: Any, weights_sha256: str | None) -> str:
    """Identity of the inpainter: name, args and weights (or the in-memory parameters of a module)."""
    parts: dict[str, Any] = {"name": name, "args": dict(args), "weights_sha256": weights_sha256}
    if weights_sha256 is None and isinstance(model, nn.Module):
        digest = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        parts["state_sha256"] = digest.hexdigest()
    return stable_hash(parts)


def sample_key(data_hash: str, protocol_id: str, image_id: str, mask_id: str) -> str:
    return stable_hash([data_hash, protocol_id, image_id, mask_id])


def run_key(ctx: EvalContext, data_name: str, batch_size: int) -> RunKey:
    """The run hash inputs: model, dataset manifest, protocol id+version, metrics, device, batch."""
    protocol_id = str(ctx.protocol.protocol_id)
    inputs = {
        "model_key": ctx.model_key,
        "data": ctx.data_identity,
        "image_ids_sha256": stable_hash(ctx.image_ids),
        "protocol_id": protocol_id,
        "protocol_version": str(ctx.protocol.version),
        "metrics": ctx.suite.identity(),
        "device": ctx.device.type,
        "batch_size": batch_size,
        "shard_size": ctx.shard_size,
    }
    return RunKey(ctx.model_name, protocol_id, data_name, inputs)


def _load_batch(
    ctx: EvalContext, samples: Sequence[Any], index_of: Mapping[str, int]
) -> tuple[list[int], list[dict[str, Any]], Tensor | None, Tensor | None]:
    """Images and rendered masks of the readable samples; unreadable ones become error rows."""
    images, masks, good, errors = [], [], [], []
    for position, sample in enumerate(samples):
        item = ctx.dataset[index_of[str(sample.image_id)]]
        if "error" in item:
            errors.append({"position": position, "error": str(item["error"])})
            continue
        image = item["image"]
        height, width = image.shape[-2:]
        mask = np.asarray(ctx.protocol.render(sample, height, width))
        if mask.shape != (height, width):
            raise ValueError(
                f"protocol {ctx.protocol.protocol_id} rendered a {mask.shape} mask for a {height}x{width} image"
            )
        images.append(image)
        masks.append(torch.from_numpy((mask > 0).astype(np.float32))[None])
        good.append(position)
    if not good:
        return good, errors, None, None
    return good, errors, torch.stack(images).float(), torch.stack(masks)


def _completed(ctx: EvalContext, image: Tensor, mask: Tensor, keys: list[str]) -> Tensor:
    """The composite on 8-bit levels: from the cache when every sample of the batch is there."""
    cache = ctx.completed_cache
    if cache is not None:
        cached = [cache.get(stable_hash([ctx.model_key, k])) for k in keys]
        if all(c is not None for c in cached):
            return torch.from_numpy(np.stack(cached)).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        pred = ctx.model.inpaint(image.to(ctx.device), mask.to(ctx.device)).float().cpu()
    completed = complete(image, mask, pred)
    if cache is not None:
        for key, array in zip(keys, to_uint8(completed).numpy(), strict=True):
            cache.put(stable_hash([ctx.model_key, key]), array)
    return completed


def run_shard(ctx: EvalContext, store: RunStore, shard: int, samples: Sequence[Any], start: int, data_hash: str) -> int:
    """Score one shard's samples batch by batch and write the shard; return the number of samples."""
    index_of = {image_id: i for i, image_id in enumerate(ctx.image_ids)}
    protocol_id = str(ctx.protocol.protocol_id)
    rows: list[dict[str, Any]] = []
    features: dict[str, list[np.ndarray]] = {name: [] for name in FEATURE_NAMES}
    with_features = ctx.suite.inception is not None
    saved = ShardImages(store.path, ctx.save_images)
    for offset in range(0, len(samples), ctx.batch_size):
        batch = samples[offset : offset + ctx.batch_size]
        keys = [sample_key(data_hash, protocol_id, str(s.image_id), str(s.mask_id)) for s in batch]
        good, errors, image, mask = _load_batch(ctx, batch, index_of)
        batch_rows: list[dict[str, Any] | None] = [None] * len(batch)
        for error in errors:
            sample = batch[error["position"]]
            batch_rows[error["position"]] = {
                "index": start + offset + error["position"],
                "image_id": str(sample.image_id),
                "mask_id": str(sample.mask_id),
                "label": plain(sample.label),
                "error": error["error"],
            }
        dims = int(getattr(ctx.suite.inception, "dims", 2048))
        batch_features = {name: np.zeros((len(batch), dims), np.float32) for name in FEATURE_NAMES}
        if good:
            completed = _completed(ctx, image, mask, [keys[p] for p in good])
            values, feats, hashes = ctx.suite.score(image, completed, mask)
            for j, position in enumerate(good):
                sample = batch[position]
                ratio = float(ctx.hole_ratio(mask[j, 0].numpy()))
                row = {
                    "index": start + offset + position,
                    "sample_key": keys[position],
                    "image_id": str(sample.image_id),
                    "mask_id": str(sample.mask_id),
                    "label": plain(sample.label),
                    "hole_ratio": ratio,
                    "bin": ctx.ratio_bin(ratio),
                    "real_sha256": hashes["real"][j],
                    "completed_sha256": hashes["completed"][j],
                }
                row.update({name: float(column[j]) for name, column in values.items()})
                batch_rows[position] = row
                for name, array in feats.items():
                    batch_features[name][position] = array[j]
            saved.add([batch_rows[p] for p in good], image, mask, completed)
        rows.extend(r for r in batch_rows if r is not None)
        for name in FEATURE_NAMES:
            features[name].append(batch_features[name])
    arrays = {name: np.concatenate(parts) for name, parts in features.items()} if with_features else {}
    saved.write()
    store.write_shard(shard, rows, arrays)
    return len(samples)


def run(ctx: EvalContext, store: RunStore, samples: Sequence[Any], data_hash: str) -> Summary:
    """Process every shard not yet on disk, then aggregate all shards into the per-bin summary."""
    n_shards = math.ceil(len(samples) / ctx.shard_size)
    done = set(store.done_shards())
    if ctx.save_images:  # shards scored before `save_images=true` are redone (from the caches) to write their images
        done = {k for k in done if all_saved(store.path, store.read_rows(k))}
    already = sum(min(ctx.shard_size, len(samples) - k * ctx.shard_size) for k in done if k < n_shards)
    bar = tqdm(
        total=len(samples), initial=already, desc=f"eval {ctx.model_name}", unit="sample", disable=not ctx.progress
    )
    try:
        for shard in range(n_shards):
            if shard in done:
                continue
            start = shard * ctx.shard_size
            chunk = samples[start : start + ctx.shard_size]
            bar.update(run_shard(ctx, store, shard, chunk, start, data_hash))
    finally:
        bar.close()
    summary = summarize(store, ctx.suite.config, ctx.ratio_bins, ctx.suite.unavailable)
    store.write_json("summary.json", summary.to_json())
    return summary


def plain(value: Any) -> Any:
    """A JSON-safe version of a protocol label (numpy scalars, tuples)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def build_context(cfg: Any, suite: MetricSuite | None = None) -> tuple[EvalContext, str | None]:
    """Model, dataset, protocol and metric suite from a composed config; returns (context, weights sha256)."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from inpaintbench import create_model, load_weights
    from inpaintbench.config import to_plain
    from inpaintbench.data import build_dataset
    from inpaintbench.masks import RATIO_BINS, get_protocol, hole_ratio, ratio_bin
    from inpaintbench.metrics.config import MetricConfig

    device = torch.device(str(cfg.get("device", "cpu")))
    args = to_plain(cfg.model.get("args")) or {}
    torch.manual_seed(int(cfg.get("seed", 0)))  # an untrained model's random init is reproducible too
    model = create_model(cfg.model.name, **args)
    weights_sha = None
    if cfg.get("weights"):
        weights_sha = load_weights(model, cfg.weights)
    if isinstance(model, nn.Module):
        model = model.eval().to(device)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    dataset = build_dataset(cfg.data)
    image_ids = dataset_ids(dataset)
    if cfg.get("limit"):
        image_ids = image_ids[: int(cfg.limit)]
    protocol = get_protocol(cfg.masks)
    cache_root = Path(str(cfg.paths.results)) / "cache"
    config = MetricConfig.from_cfg(OmegaConf.to_container(cfg.metrics, resolve=True))
    if suite is None:
        suite = MetricSuite.build(config, device, ArrayCache(cache_root / "features"))
    data_identity = {k: v for k, v in data_cfg.items() if k not in ("root", "list_file")}
    manifest = getattr(dataset, "manifest_sha256", None)
    if manifest:
        data_identity["manifest_sha256"] = manifest
    ctx = EvalContext(
        model=model,
        model_name=str(cfg.get("run_name") or cfg.model.name),
        model_key=model_key(str(cfg.model.name), args, model, weights_sha),
        dataset=dataset,
        image_ids=image_ids,
        protocol=protocol,
        suite=suite,
        data_identity=data_identity,
        hole_ratio=hole_ratio,
        ratio_bin=ratio_bin,
        ratio_bins=list(RATIO_BINS),
        device=device,
        batch_size=int(cfg.get("batch_size", 8)),
        shard_size=int(cfg.get("shard_size", 64)),
        completed_cache=ArrayCache(cache_root / "completed") if cfg.get("cache_completed", True) else None,
        progress=bool(cfg.get("progress", True)),
        save_images=bool(cfg.get("save_images", False)),
    )
    return ctx, weights_sha


@dataclass
class EvalOutcome:
    summary: Summary
    store: RunStore
    efficiency: dict[str, float | None] | None


def evaluate_context(
    ctx: EvalContext,
    results_root: str | Any,
    data_name: str,
    resolved_config: Mapping[str, Any],
    weights_sha256: str | None = None,
    efficiency: str | bool = "auto",
) -> EvalOutcome:
    """Open (or resume) the run directory for `ctx`, score every pending shard, aggregate."""
    samples = list(ctx.protocol.samples(ctx.image_ids))
    key = run_key(ctx, data_name, ctx.batch_size)
    extra = {
        "weights_sha256": weights_sha256,
        "n_samples": len(samples),
        "samples_sha256": stable_hash([[str(s.image_id), str(s.mask_id), plain(s.label)] for s in samples]),
        "unavailable": dict(ctx.suite.unavailable),
    }
    store = RunStore.open(results_root, key, resolved_config, extra)
    data_hash = stable_hash([ctx.data_identity, key.inputs["image_ids_sha256"]])
    summary = run(ctx, store, samples, data_hash)
    measured = None
    wanted = isinstance(ctx.model, nn.Module) if efficiency == "auto" else bool(efficiency)
    if wanted:
        measured = store.read_json("efficiency.json")
        if measured is None:
            from inpaintbench.metrics.efficiency import measure

            measured = measure(ctx.model)
            store.write_json("efficiency.json", measured)
    return EvalOutcome(summary, store, measured)
