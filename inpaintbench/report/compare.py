"""Paired comparison of two runs on the same (image, mask) pairs, per bin and overall.

For every per-image metric: the mean difference A - B over pairs present in both runs (matched by
sample key), a paired bootstrap 95 % interval of that mean, and a verdict that respects the
metric's direction ("A better" / "B better" / "no significant difference"). Pairs where either
PSNR is infinite (zero error) are left out and the pair count says how many remain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpaintbench.metrics.aggregate import ALL, bin_order, row_value, scored
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.spec import SPECS, arrow
from inpaintbench.metrics.stats import PairedDifference, paired_bootstrap
from inpaintbench.results import RunStore, atomic_write_text, slug

COMPARISONS_DIR = "comparisons"


class CompareError(ValueError):
    """Two runs that cannot be compared pairwise (the message says why)."""


@dataclass
class ComparisonRow:
    bin: str
    metric: str
    result: PairedDifference


def compare_runs(a: RunStore, b: RunStore, config: MetricConfig, known_bins: list[str]) -> list[ComparisonRow]:
    record_a, record_b = a.record(), b.record()
    for field in ("protocol_id", "data"):
        if record_a[field] != record_b[field]:
            raise CompareError(
                f"runs differ in {field}: {record_a[field]!r} vs {record_b[field]!r}; paired tests need the same pairs"
            )
    rows_a = {r["sample_key"]: r for r in a.iter_rows() if scored(r)}
    rows_b = {r["sample_key"]: r for r in b.iter_rows() if scored(r)}
    shared = [key for key in rows_a if key in rows_b]  # canonical order of A
    if not shared:
        raise CompareError(f"{a.path} and {b.path} share no (image, mask) pairs")
    by_bin: dict[str, list[str]] = defaultdict(list)
    for key in shared:
        by_bin[rows_a[key]["bin"]].append(key)
        by_bin[ALL].append(key)
    metrics = [m for m in config.per_image_metrics if all(m in rows_a[k] and m in rows_b[k] for k in shared[:1])]
    out = []
    for name in bin_order([x for x in by_bin if x != ALL], known_bins):
        keys = by_bin[name]
        for metric in metrics:
            higher = SPECS[metric].higher_is_better
            result = paired_bootstrap(
                [row_value(rows_a[k], metric) for k in keys],
                [row_value(rows_b[k], metric) for k in keys],
                higher_is_better=higher,
                resamples=max(config.bootstrap_resamples, 2000),
                level=config.bootstrap_level,
                seed=config.bootstrap_seed,
            )
            out.append(ComparisonRow(name, metric, result))
    return out


def render_comparison(name_a: str, name_b: str, rows: list[ComparisonRow]) -> str:
    lines = [f"A = {name_a}, B = {name_b}; difference = mean(A - B) over the same (image, mask) pairs", ""]
    lines.append("| bin | metric | A - B | 95 % interval | pairs | verdict |")
    lines.append("|---|---|---|---|---|---|")
    for row in rows:
        r = row.result
        label = SPECS[row.metric].label + arrow(row.metric)
        lines.append(f"| {row.bin} | {label} | {r.mean:+.5f} | [{r.low:+.5f}, {r.high:+.5f}] | {r.n} | {r.verdict} |")
    return "\n".join(lines)


def comparison_json(rows: list[ComparisonRow]) -> list[dict[str, Any]]:
    return [{"bin": r.bin, "metric": r.metric, **r.result.__dict__} for r in rows]


def save_comparison(
    results_root: str | Path, name_a: str, name_b: str, a: RunStore, b: RunStore, rows: list[ComparisonRow]
) -> Path:
    """Persist one comparison (the HTML report draws a forest plot of each one on disk).

    Path: `<results>/comparisons/<data>/<protocol>/<A>__vs__<B>.json`; rerunning the same pair replaces it.
    """
    record_a, record_b = a.record(), b.record()
    path = (
        Path(results_root)
        / COMPARISONS_DIR
        / slug(record_a["data"])
        / slug(record_a["protocol_id"])
        / f"{slug(name_a)}__vs__{slug(name_b)}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "a": name_a,
        "b": name_b,
        "data": record_a["data"],
        "protocol_id": record_a["protocol_id"],
        "run_a": record_a["run_hash"],
        "run_b": record_b["run_hash"],
        "model_a": record_a["model"],
        "model_b": record_b["model"],
        "rows": comparison_json(rows),
    }
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def load_comparisons(results_root: str | Path) -> list[dict[str, Any]]:
    """Every saved comparison under `<results>/comparisons`, in path order."""
    root = Path(results_root) / COMPARISONS_DIR
    return [json.loads(p.read_text()) for p in sorted(root.glob("**/*__vs__*.json"))] if root.is_dir() else []
