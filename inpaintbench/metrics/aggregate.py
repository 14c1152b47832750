"""From a run's shards to the per-bin table: streaming sums, bootstrap intervals, FID and KID.

Bins route each sample by its *measured* hole ratio (the `bin` field written by the runner from
`inpaintbench.masks.ratio_bin`), never by the protocol's label, which stays in the rows
(pitfall P13). Shards are read in index order and rows in canonical order, so the float64 sums
are the same whether the run was interrupted or not. Degenerate samples (an empty or a full hole,
marked `degenerate` by the runner) enter no metric; each bin counts them as `n_empty` / `n_full`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.ids import IDSUnavailableError, inception_discriminative_scores
from inpaintbench.metrics.stats import (
    GaussianStats,
    SampleMean,
    ScoreUnavailableError,
    bootstrap_ci,
    fid_from_stats,
    kid,
)
from inpaintbench.results import RunStore

ALL = "all"
LOCAL = {"sync_on_compute": False}  # torchmetrics options: statistics of this process only


@dataclass
class Cell:
    """One metric in one bin. `value` is None when the metric could not be computed (see `note`)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    n_exact: int = 0
    std: float | None = None
    reliable: bool = True
    note: str | None = None
    recipe: str | None = None  # the settings behind the value where the profile has several (P-IDS/U-IDS)


@dataclass
class BinRow:
    bin: str
    n: int
    cells: dict[str, Cell] = field(default_factory=dict)
    n_empty: int = 0  # samples of this bin with no hole: excluded from every metric
    n_full: int = 0  # samples whose hole covers the whole image: excluded likewise


@dataclass
class Summary:
    rows: list[BinRow]
    unavailable: dict[str, str]
    n_errors: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [
                {
                    "bin": r.bin,
                    "n": r.n,
                    "n_empty": r.n_empty,
                    "n_full": r.n_full,
                    "cells": {k: asdict(c) for k, c in r.cells.items()},
                }
                for r in self.rows
            ],
            "unavailable": self.unavailable,
            "n_errors": self.n_errors,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Summary:
        rows = [
            BinRow(
                r["bin"],
                r["n"],
                {k: Cell(**c) for k, c in r["cells"].items()},
                r.get("n_empty", 0),
                r.get("n_full", 0),
            )
            for r in data["rows"]
        ]
        return cls(rows, dict(data["unavailable"]), data.get("n_errors", 0), list(data.get("errors", [])))

    def row(self, name: str) -> BinRow:
        return next(r for r in self.rows if r.bin == name)


def scored(row: Mapping[str, Any]) -> bool:
    """A row with metric values (not an unreadable input, not an empty or full hole)."""
    return "error" not in row and "degenerate" not in row


def row_value(row: Mapping[str, Any], metric: str) -> float:
    """A shard row's metric as a float for the statistics: a missing PSNR of a zero-error image
    (rows hold no infinity) is +inf, counted as `n_exact`; any other missing value is NaN."""
    value = row.get(metric)
    if value is None:
        return math.inf if metric == "psnr" and row.get("mse") == 0 else math.nan
    return float(value)


def bin_order(seen: Iterable[str], known: Sequence[str]) -> list[str]:
    """Known bins in their defined order (only those with samples), then `all`."""
    seen = set(seen)
    ordered = [b for b in known if b in seen] + sorted(seen - set(known))
    return [*ordered, ALL]


def _mean_cell(values: list[float], stat: SampleMean, config: MetricConfig) -> Cell:
    interval = bootstrap_ci(values, config.bootstrap_resamples, config.bootstrap_level, config.bootstrap_seed)
    count = int(stat.count)
    mean = float(stat.compute()) if count else None
    return Cell(
        value=mean,
        ci_low=None if math.isnan(interval.low) else interval.low,
        ci_high=None if math.isnan(interval.high) else interval.high,
        n=count,
        n_exact=int(stat.n_exact),
        note=None if count else "no finite values",
    )


def summarize(
    store: RunStore, config: MetricConfig, known_bins: Sequence[str], unavailable: Mapping[str, str]
) -> Summary:
    """Aggregate every shard of a run into one row per bin plus `all`.

    Whoever calls this reads every shard itself (rank 0 after the ranks' barrier), so the statistics
    never sync across processes: a torchmetrics sync would count each rank's copy once more.
    """
    metrics = [m for m in config.per_image_metrics if m not in unavailable]
    means: dict[str, dict[str, SampleMean]] = defaultdict(lambda: {m: SampleMean(**LOCAL) for m in metrics})
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: {m: [] for m in metrics})
    with_features = "fid" not in unavailable
    real_stats: dict[str, GaussianStats] = {}  # created at the feature width found in the shards
    fake_stats: dict[str, GaussianStats] = {}
    positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    degenerate: dict[str, dict[str, int]] = defaultdict(lambda: {"empty": 0, "full": 0})
    errors: list[str] = []

    for shard in store.done_shards():
        rows = store.read_rows(shard)
        valid = [i for i, row in enumerate(rows) if scored(row)]
        errors += [f"{row.get('image_id')}: {row['error']}" for row in rows if "error" in row]
        for row in rows:
            if "degenerate" in row and "error" not in row:
                degenerate[row["bin"]][row["degenerate"]] += 1
                degenerate[ALL][row["degenerate"]] += 1
        if with_features and valid:
            real = np.asarray(store.read_features(shard, "inception_real"))[valid]
            fake = np.asarray(store.read_features(shard, "inception_fake"))[valid]
        groups: dict[str, list[int]] = defaultdict(list)  # target bin -> positions within `valid`
        for j, i in enumerate(valid):
            groups[rows[i]["bin"]].append(j)
            groups[ALL].append(j)
        for target, members in groups.items():
            counts[target] += len(members)
            for m in metrics:
                column = [row_value(rows[valid[j]], m) for j in members]
                means[target][m].update(np.asarray(column, dtype=np.float64))
                values[target][m].extend(column)
            if with_features:
                real_stats.setdefault(target, GaussianStats(real.shape[1], **LOCAL)).update(real[members])
                fake_stats.setdefault(target, GaussianStats(fake.shape[1], **LOCAL)).update(fake[members])
                positions[target].extend((shard, valid[j]) for j in members)

    summary_rows = []
    seen = {b for b in [*counts, *degenerate] if b != ALL}
    for name in bin_order(seen, known_bins):
        n = counts.get(name, 0)
        cells = {m: _mean_cell(values[name][m], means[name][m], config) for m in metrics}
        if with_features:
            cells["fid"] = _fid_cell(real_stats.get(name), fake_stats.get(name), n, config)
            cells["kid"] = _kid_cell(store, positions[name], config)
            if config.ids.enabled:
                cells.update(_ids_cells(store, positions[name], config))
        excluded = degenerate.get(name, {"empty": 0, "full": 0})
        summary_rows.append(BinRow(name, n, cells, excluded["empty"], excluded["full"]))
    return Summary(summary_rows, dict(unavailable), len(errors), errors)


def _fid_cell(real: GaussianStats | None, fake: GaussianStats | None, n: int, config: MetricConfig) -> Cell:
    try:
        if real is None or fake is None:
            raise ScoreUnavailableError(f"covariance needs at least 2 images, this set has {n}")
        value = fid_from_stats(real, fake)
    except ScoreUnavailableError as reason:
        return Cell(None, n=n, reliable=False, note=f"FID not computed: {reason}")
    reliable = n >= config.fid_min_n
    note = None if reliable else f"N={n} < {config.fid_min_n} (fid.min_n): FID is biased at this size, compare KID"
    return Cell(value, n=n, reliable=reliable, note=note)


def _kid_cell(store: RunStore, positions: list[tuple[int, int]], config: MetricConfig) -> Cell:
    real = store.feature_rows("inception_real", positions)
    fake = store.feature_rows("inception_fake", positions)
    try:
        result = kid(real, fake, config.kid_subsets, config.kid_subset_size, config.bootstrap_seed)
    except ScoreUnavailableError as reason:
        return Cell(None, n=len(positions), note=f"KID not computed: {reason}")
    return Cell(result.mean, std=result.std, n=len(positions))


def _ids_cells(store: RunStore, positions: list[tuple[int, int]], config: MetricConfig) -> dict[str, Cell]:
    """P-IDS and U-IDS of one bin, from the stored features of its (real, completed) pairs."""
    ids, n = config.ids, len(positions)
    recipe = ids.describe()
    try:
        every = np.arange(n)  # the SVM needs the whole bin in memory (float64 rows here: 32 KiB per pair)
        real, fake = (store.feature_rows(name, positions)[every] for name in ("inception_real", "inception_fake"))
        result = inception_discriminative_scores(real, fake, ids)
    except IDSUnavailableError as reason:
        cell = Cell(None, n=n, reliable=False, note=f"P-IDS/U-IDS not computed: {reason}", recipe=recipe)
        return {"p_ids": cell, "u_ids": cell}
    reliable, note = True, None
    if n < ids.min_n:
        reliable = False
        effect = "an SVM fitted and scored on so few pairs overfits, biased towards 0"
        if ids.split == "halves":
            effect = "held-out SVM scores are noisy at this size"
        note = f"N={n} < {ids.min_n} (ids.min_n): P-IDS/U-IDS {effect}"
    elif not result.converged:
        reliable = False
        note = f"the SVM stopped at ids.max_iter={ids.max_iter} before converging: raise ids.max_iter"
    return {
        "p_ids": Cell(result.p_ids, n=n, reliable=reliable, note=note, recipe=recipe),
        "u_ids": Cell(result.u_ids, n=n, reliable=reliable, note=note, recipe=recipe),
    }
