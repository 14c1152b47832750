"""CI regression: every number of a fixed small evaluation, and every tiny model's forward pass,
compared with committed golden files under per-metric tolerances (conf/regress.yaml).

Golden files: `results/golden/metrics.csv` (model, protocol, bin, metric, value, n),
`results/golden/checksums.csv` (architecture, statistic, value) and `results/golden/README.md`
saying how and when they were made. Only `inpaintbench regress rewrite_golden=true` writes them.
"""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from inpaintbench.errors import InpaintbenchError
from inpaintbench.io.csvtext import csv_text
from inpaintbench.results import atomic_write_text

METRIC_FIELDS = ["model", "protocol_id", "bin", "metric", "value", "n"]
CHECKSUM_FIELDS = ["arch", "statistic", "value"]


@dataclass(frozen=True)
class Drift:
    """One number that moved (or appeared, or vanished) beyond its tolerance."""

    key: str
    golden: float | None
    current: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        if self.golden is None or self.current is None:
            return None
        return self.current - self.golden


def metric_rows(tidy_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The golden subset of the leaderboard's tidy rows: per-bin metric values (no efficiency)."""
    rows = [
        {field: row[field] for field in METRIC_FIELDS}
        for row in tidy_rows
        if row["bin"] != "-" and row.get("value") is not None
    ]
    return sorted(rows, key=lambda r: (r["model"], r["protocol_id"], r["bin"], r["metric"]))


def count_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each metric row's N as a number of its own (`<metric>.n`), compared exactly."""
    return [{**r, "metric": f"{r['metric']}.n", "value": r["n"]} for r in rows]


@torch.no_grad()
def forward_checksums(arch_names: Sequence[str], seed: int, size: int) -> list[dict[str, Any]]:
    """Seeded init + fixed input (a smooth image with a centred hole) -> output statistics per arch."""
    from inpaintbench.evaluation.loading import load_inpainter
    from inpaintbench.model_registry import load_families

    load_families()  # imports may draw random numbers; do them before seeding
    rows = []
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.stack([x, y, 0.5 + 0.5 * torch.sin(6.28 * x * y)])[None]
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    for name in arch_names:
        torch.manual_seed(seed)
        model, _ = load_inpainter(name)
        pred = model.inpaint(image, mask).double()
        for statistic, value in (
            ("mean", pred.mean()),
            ("std", pred.std()),
            ("hole_mean", (pred * mask).sum() / (3 * mask.sum())),
            ("weighted_sum", (pred * torch.arange(pred.numel()).reshape(pred.shape).double().sin()).sum()),
        ):
            rows.append({"arch": name, "statistic": statistic, "value": float(value)})
    return rows


def compare(
    current: Sequence[Mapping[str, Any]],
    golden: Sequence[Mapping[str, Any]],
    key_fields: Sequence[str],
    tolerance_of: Any,
) -> list[Drift]:
    """Every key whose value differs by more than its tolerance, or exists on one side only."""

    def index(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        return {"/".join(str(r[f]) for f in key_fields): float(r["value"]) for r in rows}

    now, then = index(current), index(golden)
    drifts = []
    for key in sorted(set(now) | set(then)):
        tolerance = float(tolerance_of(key))
        a, b = then.get(key), now.get(key)
        if a is None or b is None or not _close(a, b, tolerance):
            drifts.append(Drift(key, a, b, tolerance))
    return drifts


def _close(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InpaintbenchError(f"{path}: no golden file; create it with `inpaintbench regress rewrite_golden=true`")
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, csv_text(rows, fields))


def render_drifts(drifts: Sequence[Drift]) -> str:
    lines = ["| number | golden | now | delta | tolerance |", "|---|---|---|---|---|"]
    for d in drifts:

        def fmt(v: float | None) -> str:
            return "missing" if v is None else f"{v:.6g}"

        lines.append(f"| {d.key} | {fmt(d.golden)} | {fmt(d.current)} | {fmt(d.delta)} | {d.tolerance:g} |")
    return "\n".join(lines)


def summarize_drifts(drifts: Sequence[Drift]) -> str:
    """Moved, new and vanished numbers counted apart: a new checkpoint is not drift."""
    moved = sum(1 for d in drifts if d.golden is not None and d.current is not None)
    new = sum(1 for d in drifts if d.golden is None)
    gone = sum(1 for d in drifts if d.current is None)
    parts = []
    if moved:
        parts.append(f"{moved} drifted beyond tolerance")
    if new:
        parts.append(f"{new} have no golden value (a new model, bin or metric: review, then `make golden`)")
    if gone:
        parts.append(f"{gone} golden values were not produced")
    return "; ".join(parts)


def metric_tolerance(tolerances: Mapping[str, float]) -> Any:
    """Key 'model/protocol/bin/metric' -> that metric's tolerance; counts (n) must match exactly."""

    def tolerance(key: str) -> float:
        metric = key.rsplit("/", 1)[-1]
        if metric not in tolerances:
            raise InpaintbenchError(f"conf/regress.yaml has no tolerance for metric '{metric}'")
        return tolerances[metric]

    return tolerance


def golden_provenance(repo: str, overrides: Sequence[str]) -> str:
    """The README written beside rewritten golden files: the command, when, at which commit, with which packages."""
    import datetime as dt

    from inpaintbench.report.leaderboard import git_commit, package_versions

    command = " ".join(o for o in overrides if o != "rewrite_golden=true")
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return (
        "# Golden regression results\n\n"
        f"Written by `inpaintbench regress rewrite_golden=true {command}`"
        f" on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {git_commit(repo)}.\n\n"
        f"Packages: {versions}.\n\nCompared by `inpaintbench regress` (run by `make test`) with the "
        "tolerances of conf/regress.yaml.\n"
    )


def regress(cfg: DictConfig, provenance: str) -> int:
    """Run the plan and the checksums; compare (or, with rewrite_golden=true, rewrite). Returns an exit code."""
    from inpaintbench.evaluation.evaluate import run_plan
    from inpaintbench.inpainter import list_models
    from inpaintbench.report.leaderboard import run_rows

    with tempfile.TemporaryDirectory(prefix="inpaintbench-regress-") as scratch:
        cfg = OmegaConf.merge(cfg, {"paths": {"results": scratch}})  # always recompute, never resume
        tidy = [row for _, outcome in run_plan(cfg) for row in run_rows(outcome.store)]
    metrics_now = metric_rows(tidy)
    counts_now = count_rows(metrics_now)
    tiny = list_models("*_tiny")
    checksums_now = forward_checksums(tiny, int(cfg.checksums.seed), int(cfg.checksums.size))
    golden = Path(str(cfg.golden_dir))
    if cfg.rewrite_golden:
        write_csv(golden / "metrics.csv", metrics_now, METRIC_FIELDS)
        write_csv(golden / "checksums.csv", checksums_now, CHECKSUM_FIELDS)
        atomic_write_text(golden / "README.md", provenance)
        print(f"golden files rewritten in {golden}: {len(metrics_now)} metric values, {len(checksums_now)} checksums")
        return 0
    golden_metrics = read_csv(golden / "metrics.csv")
    golden_counts = count_rows(golden_metrics)
    tolerances = dict(cfg.tolerances)
    drifts = compare(
        metrics_now, golden_metrics, ["model", "protocol_id", "bin", "metric"], metric_tolerance(tolerances)
    )
    drifts += compare(counts_now, golden_counts, ["model", "protocol_id", "bin", "metric"], lambda _: 0.0)
    golden_sums = read_csv(golden / "checksums.csv")
    rtol = float(cfg.checksums.rtol)
    scale = {f"{r['arch']}/{r['statistic']}": max(abs(float(r["value"])), 1.0) for r in golden_sums}
    drifts += compare(checksums_now, golden_sums, ["arch", "statistic"], lambda key: rtol * scale.get(key, 1.0))
    checked = len(metrics_now) + len(counts_now) + len(checksums_now)
    if drifts:
        print(f"REGRESSION: of {checked} numbers compared with {golden}, {summarize_drifts(drifts)}\n")
        print(render_drifts(drifts))
        return 1
    print(f"regression ok: {checked} numbers match {golden} within tolerance")
    return 0
