"""The metric runner: any inpainter x dataset x mask protocol -> shards -> per-bin table.

Steps, each done once: hash every input file (the run's manifest: sha256 per image and mask file,
part of the run hash), pair every image with its protocol samples (canonical order = the
protocol's sample order), render each mask through its image's geometry, measure its hole ratio
and bin, `pred = model.inpaint(image * (1 - mask), mask)` (no inpainter sees the pixels it must
predict), `completed = complete(image, mask, pred)` (composite + 8-bit rounding), then one
`MetricSuite.score` pass. Shard k holds samples [k*S, (k+1)*S); done shards are skipped, so a rerun
resumes and ends with the identical table (see results.py).

Trust rules, each enforced here:
- Every file read is hashed while reading and compared with the manifest: a file edited during a
  run is refused with its name, and a run interrupted before an edit is not resumed with other
  bytes (`changed_inputs: refuse`, or `recompute` to start a run on the new content).
- Completed images are cached by the model key and the sha256 of the exact pixels the model saw
  (image and mask), so a cache entry can never be served for other pixels.
- Degenerate samples (empty or full hole) are named in their row and counted (`n_empty`,
  `n_full`), never scored; a non-finite prediction is an error row; no NaN or inf reaches a shard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import Timeout
from torch import Tensor
from tqdm import tqdm

from inpaintbench.archs.inference import inference_identity, prepare_for_inference, to_device
from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.loader import loaded_batches
from inpaintbench.inpainter import blank_hole, complete, to_uint8
from inpaintbench.metrics.aggregate import Summary, summarize
from inpaintbench.metrics.saved_images import ShardImages, all_saved
from inpaintbench.metrics.suite import FEATURE_NAMES, MetricSuite
from inpaintbench.model_registry import is_learned
from inpaintbench.results import (
    RUN_FILE,
    ArrayCache,
    RunKey,
    RunRecordError,
    RunStore,
    ShardError,
    shard_ranges,
    stable_hash,
)

log = logging.getLogger(__name__)


class InputChangedError(InpaintbenchError):
    """An input file whose bytes differ from those a run recorded; the message names the file."""


class ModelFailedError(InpaintbenchError):
    """The inpainter raised on a batch (e.g. an image smaller than the model's minimum size)."""


@dataclass
class InputManifest:
    """sha256 of every input file's bytes: images by id, masks by mask id (file-based protocols)."""

    images: dict[str, str | None]
    masks: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # id -> the file path shown in messages

    def identity(self) -> dict[str, Any]:
        """What the run hash records: one hash of each list."""
        return {
            "images_sha256": stable_hash(sorted(self.images.items())),
            "masks_sha256": stable_hash(sorted(self.masks.items())) if self.masks else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "masks": self.masks, "paths": self.paths}

    def changes(self, recorded: Mapping[str, Any]) -> list[str]:
        """One line per file whose recorded hash differs from the current one (ids in both lists)."""
        lines = []
        for kind, now in (("images", self.images), ("masks", self.masks)):
            then = recorded.get(kind) or {}
            for name in sorted(set(now) & set(then)):
                if now[name] != then[name]:
                    path = self.paths.get(name, name)
                    lines.append(f"{path} (sha256 {str(then[name])[:12]} -> {str(now[name])[:12]})")
        return lines


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
    data_location: str | None = None  # the dataset's folder or list file: names a run's lineage, not its hash
    changed_inputs: str = "refuse"
    manifest: InputManifest | None = None  # filled by `evaluate_context`
    save_images: bool = False  # every completed image as PNG; otherwise only what the report's grids show
    num_workers: int = 0  # loader processes decoding images and rendering masks ahead (evaluation/loader.py)


@dataclass
class LoadedSample:
    """One readable sample: the preprocessed image, its rendered mask and the hashes read with them."""

    image: Tensor  # (3, H, W)
    mask: Tensor  # (1, H, W) float {0, 1}
    image_sha256: str | None
    mask_sha256: str | None


def dataset_ids(dataset: Any) -> list[str]:
    """The dataset's image ids in its deterministic order (an `ids` attribute, else read item by item)."""
    for attribute in ("ids", "image_ids"):
        ids = getattr(dataset, attribute, None)
        if ids is not None:
            return [str(i) for i in ids]
    return [str(dataset[i]["id"]) for i in range(len(dataset))]


def model_key(
    name: str,
    args: Mapping[str, Any],
    model: Any,
    weights_sha256: str | None,
    inference: Mapping[str, Any] | None = None,
) -> str:
    """Identity of the inpainter: name, args and weights (or the in-memory parameters of a module), and
    what else decides its output bits: `archs.inference.inference_identity` (code version, torch,
    compile, device) and a baseline's engine (`engine_version`, e.g. OpenCV's)."""
    parts: dict[str, Any] = {"name": name, "args": dict(args), "weights_sha256": weights_sha256}
    if inference is not None:
        parts["inference"] = dict(inference)
    engine = getattr(model, "engine_version", None)
    if engine is not None:
        parts["engine"] = str(engine)
    if weights_sha256 is None and is_learned(model):
        digest = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        parts["state_sha256"] = digest.hexdigest()
    return stable_hash(parts)


# -- input identity ----------------------------------------------------------------------------


def _item_pixels_sha256(item: Mapping[str, Any]) -> str | None:
    """Content hash of an in-memory dataset item (datasets without files, e.g. test stand-ins)."""
    if "error" in item:
        return None
    return hashlib.sha256(to_uint8(item["image"][None]).numpy().tobytes()).hexdigest()


def build_manifest(ctx: EvalContext, samples: Sequence[Any]) -> InputManifest:
    """Hash every image file (and every mask file of a file-based protocol) the run will read."""
    index_of = {image_id: i for i, image_id in enumerate(dataset_ids(ctx.dataset))}
    file_sha256 = getattr(ctx.dataset, "file_sha256", None)
    images: dict[str, str | None] = {}
    paths: dict[str, str] = {}
    for image_id in ctx.image_ids:
        index = index_of[image_id]
        images[image_id] = file_sha256(index) if file_sha256 else _item_pixels_sha256(ctx.dataset[index])
        if hasattr(ctx.dataset, "path"):
            paths[image_id] = str(ctx.dataset.path(index))
    masks: dict[str, str] = {}
    mask_file = getattr(ctx.protocol, "mask_file", None)  # protocols that read mask files
    if mask_file is not None:
        for sample in samples:
            path = Path(mask_file(sample))
            try:
                masks[str(sample.mask_id)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as error:
                raise InpaintbenchError(f"cannot read mask file {path}: {error.strerror or error}") from None
            paths[str(sample.mask_id)] = str(path)
    return InputManifest(images, masks, paths)


def sample_key(ctx: EvalContext, sample: Any) -> str:
    """Identity of one (image, mask) pair from content: the same in every run and model, so paired
    comparisons match rows, and different whenever a file's bytes or the preprocessing differ."""
    manifest = ctx.manifest or InputManifest({})
    image_id, mask_id = str(sample.image_id), str(sample.mask_id)
    return stable_hash(
        [
            ctx.data_identity,
            str(ctx.protocol.protocol_id),
            image_id,
            mask_id,
            manifest.images.get(image_id),
            manifest.masks.get(mask_id),
        ]
    )


def pixels_key(model: str, image: Tensor, mask: Tensor) -> str:
    """Completed-image cache key: the model key and the exact pixels it is given (image and mask)."""
    digest = hashlib.sha256(model.encode())
    digest.update(str(tuple(image.shape)).encode())
    digest.update(to_uint8(image[None]).numpy().tobytes())
    digest.update(np.packbits(mask.numpy() > 0.5).tobytes())
    return digest.hexdigest()


def run_key(ctx: EvalContext, data_name: str, batch_size: int) -> RunKey:
    """The run hash inputs: model, input file hashes + preprocessing, protocol id+version, metrics,
    device, batch and shard size."""
    protocol_id = str(ctx.protocol.protocol_id)
    data = dict(ctx.data_identity)
    if ctx.manifest is not None:
        data.update(ctx.manifest.identity())
    inputs = {
        "model_key": ctx.model_key,
        "data": data,
        "image_ids_sha256": stable_hash(ctx.image_ids),
        "protocol_id": protocol_id,
        "protocol_version": str(ctx.protocol.version),
        "metrics": ctx.suite.identity(),
        "device": ctx.device.type,
        "batch_size": batch_size,
        "shard_size": ctx.shard_size,
    }
    return RunKey(ctx.model_name, protocol_id, data_name, inputs)


def run_lineage(ctx: EvalContext, key: RunKey) -> str:
    """Everything of the run hash except the file contents, plus where the files live: two runs of
    one lineage read the same files, so differing manifests mean files were edited in between."""
    inputs = dict(key.inputs)
    inputs["data"] = {k: v for k, v in inputs["data"].items() if k not in ("images_sha256", "masks_sha256")}
    return stable_hash([inputs, ctx.data_location])


def refuse_changed_inputs(ctx: EvalContext, lineage: str, protocol_folder: Path) -> None:
    """An interrupted run of this lineage whose files have changed since: refuse to start over on
    other bytes silently (one line naming the file), unless `changed_inputs: recompute`.

    Searched under every data label of the protocol folder: a folder dataset's default label
    carries its content hash, so edited files move the new run to another label folder."""
    if ctx.manifest is None or not protocol_folder.is_dir():
        return
    for run_dir in sorted(p.parent for p in protocol_folder.glob(f"*/*/{RUN_FILE}")):
        store = RunStore(run_dir)
        try:
            if store.record().get("lineage") != lineage or store.read_json("summary.json") is not None:
                continue
            recorded = store.read_json("manifest.json")
        except RunRecordError:
            continue
        changes = ctx.manifest.changes(recorded or {})
        if not changes:
            continue
        more = f" and {len(changes) - 1} more file(s)" if len(changes) > 1 else ""
        if ctx.changed_inputs == "recompute":
            log.warning(
                "inputs changed since the interrupted run %s (%s%s): starting a new run", run_dir, changes[0], more
            )
            return
        raise InputChangedError(
            f"{changes[0]}{more}: changed since the interrupted run {run_dir}; restore the file to resume it, "
            "or set changed_inputs=recompute to evaluate the new content in a new run"
        )


# -- one batch ---------------------------------------------------------------------------------


def _check_hash(ctx: EvalContext, kind: str, name: str, found: str | None) -> None:
    """A file read now must have the bytes the manifest recorded when the run started."""
    manifest = ctx.manifest
    if manifest is None or found is None:
        return
    expected = (manifest.images if kind == "image" else manifest.masks).get(name)
    if expected is not None and found != expected:
        raise InputChangedError(
            f"{manifest.paths.get(name, name)}: changed during this evaluation (sha256 {expected[:12]} -> "
            f"{found[:12]}); rerun to evaluate the new content in a new run"
        )


def _render_mask(ctx: EvalContext, sample: Any, item: Mapping[str, Any]) -> tuple[np.ndarray, str | None]:
    """The sample's mask at the image's final size: file masks through the image's own geometry."""
    height, width = item["image"].shape[-2:]
    render_source = getattr(ctx.protocol, "render_source", None)
    preprocess = getattr(ctx.dataset, "preprocess", None)
    if render_source is not None and preprocess is not None and "source_size" in item:
        rendered = render_source(sample, tuple(item["source_size"]), preprocess)
        mask, sha256 = np.asarray(rendered.mask), rendered.sha256
    else:
        mask, sha256 = np.asarray(ctx.protocol.render(sample, height, width)), None
    if mask.shape != (height, width):
        raise ValueError(
            f"protocol {ctx.protocol.protocol_id} rendered a {mask.shape} mask for a {height}x{width} image"
        )
    return mask, sha256


def load_sample(ctx: EvalContext, sample: Any, index: int) -> LoadedSample | str:
    """The preprocessed image and rendered mask of a sample, hashes checked; an error line otherwise."""
    item = ctx.dataset[index]
    if "error" in item:
        return str(item["error"])
    _check_hash(ctx, "image", str(sample.image_id), item.get("sha256"))
    mask, mask_sha256 = _render_mask(ctx, sample, item)
    _check_hash(ctx, "mask", str(sample.mask_id), mask_sha256)
    hole = torch.from_numpy((mask > 0).astype(np.float32))[None]
    return LoadedSample(item["image"].float(), hole, item.get("sha256"), mask_sha256)


def _load_nth(ctx: EvalContext, samples: Sequence[Any], index_of: Mapping[str, int], n: int) -> LoadedSample | str:
    """`load_sample` of `samples[n]` (picklable with `functools.partial`, for loader workers)."""
    return load_sample(ctx, samples[n], index_of[str(samples[n].image_id)])


def _predict(ctx: EvalContext, image: Tensor, mask: Tensor, first_id: str) -> Tensor:
    """The model's prediction from the blanked image; a model error becomes one line."""
    try:
        with torch.inference_mode():
            pred = ctx.model.inpaint(to_device(blank_hole(image, mask), ctx.device), to_device(mask, ctx.device))
            return pred.float().cpu()
    except (RuntimeError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        height, width = image.shape[-2:]
        raise ModelFailedError(
            f"model {ctx.model_name} failed on {width}x{height} images (first: {first_id}): {first_line}; "
            "finished shards are kept"
        ) from None


def completed_images(ctx: EvalContext, image: Tensor, mask: Tensor, first_id: str) -> tuple[Tensor, list[bool]]:
    """Composites on 8-bit levels and, per sample, whether the prediction was finite in the hole.

    From the cache when every sample is there (only finite composites are ever stored)."""
    cache = ctx.completed_cache
    keys = [pixels_key(ctx.model_key, i, m) for i, m in zip(image, mask, strict=True)]
    if cache is not None:
        cached = [cache.get(k) for k in keys]
        if all(c is not None for c in cached):
            stacked = torch.from_numpy(np.stack(cached)).permute(0, 3, 1, 2).float() / 255.0
            return stacked, [True] * len(keys)
    pred = _predict(ctx, image, mask, first_id)
    finite = torch.isfinite(torch.where(mask > 0.5, pred, 0.0)).flatten(1).all(dim=1).tolist()
    completed = complete(image, mask, torch.nan_to_num(pred))
    if cache is not None:
        for key, array, ok in zip(keys, to_uint8(completed).numpy(), finite, strict=True):
            if ok:
                cache.put(key, array)
    return completed, finite


def _finite(value: float) -> float | None:
    """A metric value for a row: finite, or None (zero-error PSNR is +inf; the row's mse says so)."""
    return float(value) if np.isfinite(value) else None


def _base_row(ctx: EvalContext, sample: Any, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "sample_key": sample_key(ctx, sample),
        "image_id": str(sample.image_id),
        "mask_id": str(sample.mask_id),
        "label": plain(sample.label),
    }


def score_batch(
    ctx: EvalContext,
    batch: Sequence[Any],
    first_index: int,
    preloaded: Sequence[LoadedSample | str],
    saved: ShardImages | None = None,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Rows (one per sample, in order) and feature arrays (zeros for rows without features); the
    scored samples' images go to `saved` (the shard's PNG writer) when given. `preloaded`: the
    batch's `load_sample` results, in order (evaluation/loader.py loads them, ahead with workers)."""
    rows = [_base_row(ctx, sample, first_index + p) for p, sample in enumerate(batch)]
    dims = int(getattr(ctx.suite.inception, "dims", 2048))
    features = {name: np.zeros((len(batch), dims), np.float32) for name in FEATURE_NAMES}
    loaded: list[tuple[int, LoadedSample]] = []
    for position, result in enumerate(preloaded):
        if isinstance(result, str):
            rows[position]["error"] = result
            continue
        ratio = float(ctx.hole_ratio(result.mask[0].numpy()))
        rows[position].update(
            hole_ratio=ratio,
            bin=ctx.ratio_bin(ratio),
            image_sha256=result.image_sha256,
            mask_sha256=result.mask_sha256,
        )
        if ratio in (0.0, 1.0):  # nothing to inpaint, or nothing to inpaint from: named, never scored
            rows[position]["degenerate"] = "empty" if ratio == 0.0 else "full"
            continue
        loaded.append((position, result))
    for group in _same_size_groups(loaded):
        _score_group(ctx, group, rows, features, saved)
    return rows, features


def _same_size_groups(loaded: list[tuple[int, LoadedSample]]) -> list[list[tuple[int, LoadedSample]]]:
    """Samples grouped by image size (in first-seen order): `data.crop=none` may mix sizes."""
    groups: dict[tuple[int, ...], list[tuple[int, LoadedSample]]] = {}
    for position, sample in loaded:
        groups.setdefault(tuple(sample.image.shape), []).append((position, sample))
    return list(groups.values())


def _score_group(
    ctx: EvalContext,
    group: list[tuple[int, LoadedSample]],
    rows: list[dict[str, Any]],
    features: dict[str, np.ndarray],
    saved: ShardImages | None = None,
) -> None:
    image = torch.stack([s.image for _, s in group])
    mask = torch.stack([s.mask for _, s in group])
    completed, finite = completed_images(ctx, image, mask, rows[group[0][0]]["image_id"])
    for (position, _), ok in zip(group, finite, strict=True):
        if not ok:
            rows[position]["error"] = f"{ctx.model_name} returned non-finite values in the hole"
    keep = [j for j, ok in enumerate(finite) if ok]
    if not keep:
        return
    values, feats, hashes = ctx.suite.score(image[keep], completed[keep], mask[keep])
    for j, k in enumerate(keep):
        position = group[k][0]
        rows[position].update(real_sha256=hashes["real"][j], completed_sha256=hashes["completed"][j])
        rows[position].update({name: _finite(column[j]) for name, column in values.items()})
        for name, array in feats.items():
            features[name][position] = array[j]
    if saved is not None:
        saved.add([rows[group[k][0]] for k in keep], image[keep], mask[keep], completed[keep])


# -- shards ------------------------------------------------------------------------------------


def run_shard(ctx: EvalContext, store: RunStore, shard: int, samples: Sequence[Any], start: int) -> int:
    """Score one shard's samples batch by batch and write the shard; return the number of samples."""
    index_of = {image_id: i for i, image_id in enumerate(dataset_ids(ctx.dataset))}
    rows: list[dict[str, Any]] = []
    features: dict[str, list[np.ndarray]] = {name: [] for name in FEATURE_NAMES}
    saved = ShardImages(store.path, ctx.save_images)
    light = dataclasses.replace(ctx, model=None, suite=None, completed_cache=None)  # what loading needs
    load = functools.partial(_load_nth, light, list(samples), index_of)
    batches = loaded_batches(load, len(samples), ctx.batch_size, ctx.num_workers, pin=ctx.device.type == "cuda")
    for offset, loaded in zip(range(0, len(samples), ctx.batch_size), batches, strict=True):
        batch_rows, batch_features = score_batch(
            ctx, samples[offset : offset + ctx.batch_size], start + offset, loaded, saved
        )
        rows.extend(batch_rows)
        for name in FEATURE_NAMES:
            features[name].append(batch_features[name])
    with_features = ctx.suite.inception is not None
    arrays = {name: np.concatenate(parts) for name, parts in features.items()} if with_features else {}
    saved.write()
    store.write_shard(shard, rows, arrays)
    return len(samples)


def shard_complete(ctx: EvalContext, store: RunStore, shard: int) -> bool:
    """Shard `shard` is on disk and, with `save_images=true`, so is every completed image it scored
    (a shard scored without it is redone, from the caches, to write them)."""
    if shard not in store.done_shards():
        return False
    return not ctx.save_images or all_saved(store.path, store.read_rows(shard))


def claim_and_run_shard(
    ctx: EvalContext, store: RunStore, shard: int, samples: Sequence[Any], start: int, wait: bool
) -> bool:
    """Compute shard `shard` under its lock unless another process holds it (`wait=False`) or has
    finished it meanwhile; True when the shard is done on return."""
    lock = store.shard_lock(shard)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        return False
    try:
        if not shard_complete(ctx, store, shard):
            run_shard(ctx, store, shard, samples, start)
        return True
    finally:
        lock.release()


def pending_shards(
    store: RunStore, n_samples: int, shard_size: int, ctx: EvalContext | None = None
) -> list[tuple[int, int, int]]:
    """(shard, first sample, end) of every shard of this run not on disk yet, ascending; with `ctx`,
    also the shards whose saved images it asks for are missing (`shard_complete`)."""
    done = set(store.done_shards())
    ranges = [r for r in shard_ranges(n_samples, shard_size) if r[0] not in done]
    if ctx is None or not ctx.save_images:
        return ranges
    return [r for r in shard_ranges(n_samples, shard_size) if not shard_complete(ctx, store, r[0])]


def samples_in(shards: Sequence[tuple[int, int, int]]) -> int:
    """How many samples the given shard ranges hold."""
    return sum(end - start for _, start, end in shards)


def run_shards(
    ctx: EvalContext,
    store: RunStore,
    samples: Sequence[Any],
    shards: Sequence[tuple[int, int, int]],
    on_shard: Callable[[int], Any] | None = None,
) -> None:
    """Score and write the given shards (a rank's share, or every pending one); `on_shard(n)` after each.

    Each shard is claimed under its lock: the shards given here are this process's own (one process,
    or a rank's deterministic share), so the lock only matters when another command evaluates the same
    run at the same time; its shards are taken last, waiting for their lock, and skipped once done."""
    busy = []
    for shard, start, end in shards:
        if claim_and_run_shard(ctx, store, shard, samples[start:end], start, wait=False):
            if on_shard is not None:
                on_shard(end - start)
        else:
            busy.append((shard, start, end))
    for shard, start, end in busy:
        claim_and_run_shard(ctx, store, shard, samples[start:end], start, wait=True)
        if on_shard is not None:
            on_shard(end - start)


def check_shards(ctx: EvalContext, store: RunStore, samples: Sequence[Any]) -> None:
    """Every shard on disk holds exactly its samples, read from the files this run recorded."""
    ranges = shard_ranges(len(samples), ctx.shard_size)
    extra = sorted(set(store.done_shards()) - {k for k, _, _ in ranges})
    if extra:
        raise ShardError(f"{store.shard_dir}: shard {extra[0]} lies beyond the run's {len(samples)} samples")
    manifest = ctx.manifest
    for shard, start, end in ranges:
        for row in store.check_shard(shard, start, end - start):
            sample = samples[row["index"]]
            same = row["image_id"] == str(sample.image_id) and row["mask_id"] == str(sample.mask_id)
            recorded = row.get("image_sha256")
            expected = manifest.images.get(row["image_id"]) if manifest is not None else None
            if not same or (recorded is not None and expected is not None and recorded != expected):
                raise ShardError(
                    f"{store.shard_dir / f'{shard:06d}.jsonl'}: row {row['index']} does not match this run's inputs "
                    f"({row['image_id']}); delete the shard and rerun to recompute it"
                )


def aggregate(ctx: EvalContext, store: RunStore, samples: Sequence[Any]) -> Summary:
    """Every shard on disk, checked -> the per-bin summary (also written to summary.json)."""
    check_shards(ctx, store, samples)
    summary = summarize(store, ctx.suite.config, ctx.ratio_bins, ctx.suite.unavailable)
    store.write_json("summary.json", summary.to_json())
    return summary


def run(ctx: EvalContext, store: RunStore, samples: Sequence[Any]) -> Summary:
    """Process every shard not yet on disk, then check and aggregate all shards into the summary."""
    pending = pending_shards(store, len(samples), ctx.shard_size, ctx)
    bar = tqdm(
        total=len(samples),
        initial=len(samples) - samples_in(pending),
        desc=f"eval {ctx.model_name}",
        unit="sample",
        disable=not ctx.progress,
    )
    try:
        run_shards(ctx, store, samples, pending, bar.update)
    finally:
        bar.close()
    return aggregate(ctx, store, samples)


def plain(value: Any) -> Any:
    """A JSON-safe version of a protocol label (numpy scalars, tuples)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def build_context(cfg: Any, suite: MetricSuite | None = None) -> tuple[EvalContext, str | None]:
    """Model, dataset, protocol and metric suite from a composed config; returns (context, weights sha256).

    Every setting is checked first (`settings.eval_settings`), so a bad value costs no work."""
    from omegaconf import OmegaConf

    from inpaintbench.config import to_plain
    from inpaintbench.data import build_dataset
    from inpaintbench.evaluation.loading import load_inpainter
    from inpaintbench.evaluation.settings import check_weights, eval_settings
    from inpaintbench.masks import RATIO_BINS, get_protocol, hole_ratio, ratio_bin
    from inpaintbench.metrics.config import MetricConfig

    settings = eval_settings(cfg)
    device = settings.device
    args = to_plain(cfg.model.get("args")) or {}
    torch.manual_seed(settings.seed)  # an untrained model's random init is reproducible too
    model, weights_sha = load_inpainter(
        cfg.model.name,
        args,
        None if settings.untrained else settings.weights,
        device,
        check=lambda learned: check_weights(settings, str(cfg.model.name), learned),
    )
    dataset = build_dataset(cfg.data)
    image_ids = dataset_ids(dataset)
    if settings.limit is not None:
        image_ids = image_ids[: settings.limit]
    protocol = get_protocol(cfg.masks)
    cache_root = Path(str(cfg.paths.results)) / "cache"
    config = MetricConfig.from_cfg(OmegaConf.to_container(cfg.metrics, resolve=True))
    if suite is None:
        suite = MetricSuite.build(config, device, ArrayCache(cache_root / "features"))
    name = str(cfg.get("run_name") or cfg.model.name)
    if settings.untrained and not name.endswith(".untrained"):
        name += ".untrained"
    ctx = EvalContext(
        model=model,
        model_name=name,
        model_key=model_key(
            str(cfg.model.name), args, model, weights_sha, inference_identity(device, compile=settings.compile)
        ),
        dataset=dataset,
        image_ids=image_ids,
        protocol=protocol,
        suite=suite,
        data_identity=dataset.identity(),
        hole_ratio=hole_ratio,
        ratio_bin=ratio_bin,
        ratio_bins=list(RATIO_BINS),
        device=device,
        batch_size=settings.batch_size,
        shard_size=settings.shard_size,
        num_workers=settings.num_workers,
        completed_cache=ArrayCache(cache_root / "completed") if cfg.get("cache_completed", True) else None,
        progress=bool(cfg.get("progress", True)),
        save_images=bool(cfg.get("save_images", False)),
        data_location=str(cfg.data.get("list_file") or cfg.data.get("root")),
        changed_inputs=settings.changed_inputs,
    )
    ctx.model = prepare_for_inference(ctx.model, compile=settings.compile)
    return ctx, "untrained" if settings.untrained else weights_sha


@dataclass
class EvalOutcome:
    summary: Summary
    store: RunStore
    efficiency: dict[str, float | None] | None


def open_run(
    ctx: EvalContext,
    results_root: str | Any,
    data_name: str,
    resolved_config: Mapping[str, Any],
    weights_sha256: str | None = None,
    join: bool = False,
) -> tuple[RunStore, list[Any]]:
    """Hash the inputs and open (or reopen, to resume) the run directory of `ctx`; returns (store, samples).

    `join`: the run directory must exist already (ranks other than 0 join the run rank 0 opened); a
    rank whose inputs hash to another run, e.g. other file contents on its machine, is refused."""
    samples = list(ctx.protocol.samples(ctx.image_ids))
    ctx.manifest = build_manifest(ctx, samples)
    key = run_key(ctx, data_name, ctx.batch_size)
    lineage = run_lineage(ctx, key)
    path = RunStore.for_key(results_root, key)
    if join and not (path / RUN_FILE).exists():
        raise InputChangedError(
            f"{path}: this rank's inputs hash to a run that rank 0 did not open; every rank must read the "
            "same files (paths.results and the data on a shared file system)"
        )
    if not join and not (path / RUN_FILE).exists():
        refuse_changed_inputs(ctx, lineage, path.parent.parent)
    extra = {
        "weights_sha256": weights_sha256,
        "n_samples": len(samples),
        "samples_sha256": stable_hash([[str(s.image_id), str(s.mask_id), plain(s.label)] for s in samples]),
        "unavailable": dict(ctx.suite.unavailable),
        "lineage": lineage,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    store = RunStore.open(results_root, key, resolved_config, extra)
    if store.read_json("manifest.json") is None:
        store.write_json("manifest.json", ctx.manifest.to_json())
    return store, samples


def efficiency_of(ctx: EvalContext, store: RunStore, efficiency: str | bool = "auto") -> dict[str, float | None] | None:
    """Params/GFLOPs/latency of the model, measured once per run directory (learned models by default)."""
    wanted = is_learned(ctx.model) if efficiency == "auto" else bool(efficiency)
    if not wanted:
        return None
    measured = store.read_json("efficiency.json")
    if measured is None:
        from inpaintbench.evaluation.efficiency import measure

        measured = measure(ctx.model)
        store.write_json("efficiency.json", measured)
    return measured


def evaluate_context(
    ctx: EvalContext,
    results_root: str | Any,
    data_name: str,
    resolved_config: Mapping[str, Any],
    weights_sha256: str | None = None,
    efficiency: str | bool = "auto",
) -> EvalOutcome:
    """Hash the inputs, open (or resume) the run directory for `ctx`, score every pending shard,
    check and aggregate them."""
    store, samples = open_run(ctx, results_root, data_name, resolved_config, weights_sha256)
    summary = run(ctx, store, samples)
    return EvalOutcome(summary, store, efficiency_of(ctx, store, efficiency))
