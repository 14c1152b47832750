"""Leaderboards: every run under results/ -> a tidy CSV and a Markdown page with provenance.

CSV (long format): one row per model x data x protocol x bin x metric, with value, interval, N and
the provenance that makes the row citable (protocol id and version, weights sha256, metric config,
run hash), and per bin the degenerate samples left out of every metric (`n_empty`, `n_full`).
Markdown: one table per (data, protocol) and metric, models x bins, the best value of each bin in
bold among the runs shown, an arrow saying whether higher or lower is better; efficiency in its own
table; every run not shown (incomplete, damaged, superseded) listed with the reason
(`report.selection`).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from inpaintbench.io.csvtext import csv_text
from inpaintbench.metrics.aggregate import ALL, Summary
from inpaintbench.metrics.spec import SPECS
from inpaintbench.report.selection import RunChoice, choose_runs
from inpaintbench.report.table import decimals
from inpaintbench.results import RunStore, atomic_write_text, find_runs

CSV_FIELDS = [
    "model", "data", "protocol_id", "protocol_version", "bin", "metric", "value", "ci_low", "ci_high", "std",
    "n", "n_exact", "n_empty", "n_full", "reliable", "note", "weights_sha256", "metrics_config", "device", "run_hash",
    "recipe",
]  # fmt: skip

CSV_NAME = "leaderboard.csv"

EFFICIENCY_COLUMNS = {
    "params_m": ("Params (M)", False, 2),
    "gflops_256": ("GFLOPs @256", False, 2),
    "latency_ms_b1": ("CPU latency b1 (ms)", False, 1),
    "throughput_b8": ("CPU throughput b8 (img/s)", True, 2),
    "peak_memory_mb": ("Peak memory (MB)", False, 1),
    "load_avg_1m": ("Load avg 1 min", None, 2),  # the machine's load when the timings were taken
}

PACKAGES = (
    "inpaintbench",
    "torch",
    "torchvision",
    "torchmetrics",
    "lpips",
    "pytorch-fid",
    "numpy",
    "scipy",
    "opencv-python-headless",
)


def run_rows(store: RunStore) -> list[dict[str, Any]]:
    """Tidy rows of one run (empty when the run has no summary yet)."""
    summary_json = store.read_json("summary.json")
    if summary_json is None:
        return []
    record = store.record()
    summary = Summary.from_json(summary_json)
    inputs = record.get("inputs", {})
    metrics = inputs.get("metrics", {}).get("metrics", {})
    base = {
        "model": record["model"],
        "data": record["data"],
        "protocol_id": record["protocol_id"],
        "protocol_version": inputs.get("protocol_version", ""),
        "weights_sha256": record.get("weights_sha256") or "",
        "metrics_config": f"{metrics.get('name', '?')}@v{metrics.get('version', '?')}",
        "device": inputs.get("device", ""),
        "run_hash": record["run_hash"],
    }
    empty = {"ci_low": None, "ci_high": None, "std": None}
    rows = []
    for bin_row in summary.rows:
        excluded = {"n_empty": bin_row.n_empty, "n_full": bin_row.n_full}
        for metric, cell in bin_row.cells.items():
            cell_fields = {**asdict(cell), "note": cell.note or ""}
            rows.append({**base, "bin": bin_row.bin, "metric": metric, **cell_fields, **excluded})
        for metric, message in summary.unavailable.items():
            if metric not in bin_row.cells:
                cell = {"value": None, **empty, "n": bin_row.n, "n_exact": 0, "reliable": False, "note": message}
                rows.append({**base, "bin": bin_row.bin, "metric": metric, **cell, **excluded})
    for metric, value in (store.read_json("efficiency.json") or {}).items():
        if metric in EFFICIENCY_COLUMNS:
            cell = {"value": value, **empty, "n": None, "n_exact": None, "reliable": True, "note": ""}
            rows.append({**base, "bin": "-", "metric": metric, **cell})
    return rows


def shown_runs(
    results_root: str | Path, select: Sequence[str] = (), stores: Sequence[RunStore] | None = None
) -> RunChoice:
    """The runs the tables show (among `stores`, default every run under `results_root`) and one line
    per run they do not show (with the reason): the one choice the Markdown and the HTML page share."""
    candidates = find_runs(results_root) if stores is None else stores
    return choose_runs(candidates, select, Path(results_root))


def gather(
    results_root: str | Path, select: Sequence[str] = (), stores: Sequence[RunStore] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Tidy rows of the runs a table shows, and one line per run it does not show (`shown_runs`)."""
    choice = shown_runs(results_root, select, stores)
    return [row for store in choice.shown for row in run_rows(store)], choice.not_shown


def render_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    return csv_text(rows, CSV_FIELDS)


def _fmt(metric: str, row: Mapping[str, Any]) -> str:
    value = row.get("value")
    if value is None or value == "":
        return "–"
    digits = decimals(metric, EFFICIENCY_COLUMNS.get(metric, ("", False, 3))[2])
    text = f"{float(value):.{digits}f}"
    if row.get("ci_low") not in (None, "") and row.get("ci_high") not in (None, ""):
        text += f" [{float(row['ci_low']):.{digits}f}, {float(row['ci_high']):.{digits}f}]"
    elif metric == "kid" and row.get("std") not in (None, ""):
        text += f" ± {float(row['std']):.{digits}f}"
    if int(row.get("n_exact") or 0):
        text += f" (+{int(row['n_exact'])} exact)"
    return text


def _best(rows: Sequence[Mapping[str, Any]], higher_is_better: bool) -> float | None:
    values = [
        float(r["value"]) for r in rows if r.get("value") not in (None, "") and r.get("reliable", True) is not False
    ]
    if not values:
        return None
    return max(values) if higher_is_better else min(values)


@dataclass
class TableCell:
    text: str  # value, interval and exact count, as in the Markdown ("–" when missing)
    value: float | None = None
    best: bool = False
    note: int | None = None  # footnote number
    metric: str = ""  # the CSV row the cell shows: its metric and bin (the browser check reads them)
    bin: str = ""


@dataclass
class LeaderTable:
    """One models x columns table of the leaderboard (a metric over bins, or the efficiency table)."""

    title: str
    columns: list[str]
    rows: dict[str, list[TableCell | None]] = field(default_factory=dict)
    footers: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, one text per column): N, left out
    recipes: list[str] = field(default_factory=list)  # e.g. how P-IDS/U-IDS were computed
    remark: str = ""  # a sentence under the table (e.g. how to read the timings)


def scored_groups(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(data, protocol id, protocol version) of every per-bin metric row, sorted."""
    return sorted({(r["data"], r["protocol_id"], str(r["protocol_version"])) for r in rows if r["metric"] in SPECS})


def in_group(rows: Sequence[Mapping[str, Any]], group: tuple[str, str, str]) -> list[Mapping[str, Any]]:
    return [
        r for r in rows if r["metric"] in SPECS and (r["data"], r["protocol_id"], str(r["protocol_version"])) == group
    ]


def group_bins(cells: Sequence[Mapping[str, Any]], bin_order: Sequence[str]) -> list[str]:
    """The bins present, in the canonical order, then `all`, then any unknown ones sorted."""
    bins = [b for b in [*bin_order, ALL] if any(r["bin"] == b for r in cells)]
    return bins + sorted({r["bin"] for r in cells} - set(bins))


def metric_tables(
    group: Sequence[Mapping[str, Any]], bin_order: Sequence[str], notes: dict[str, int]
) -> list[LeaderTable]:
    """Per metric present in one (data, protocol) group: models x bins, best reliable value marked."""
    tables = []
    for metric in [m for m in SPECS if any(r["metric"] == m for r in group)]:
        label, higher = SPECS[metric].label, SPECS[metric].higher_is_better
        cells = [r for r in group if r["metric"] == metric]
        bins = group_bins(cells, bin_order)
        table = LeaderTable(f"{label} {'↑ higher is better' if higher else '↓ lower is better'}", bins)
        table.recipes = sorted({str(r["recipe"]) for r in cells if r.get("recipe")})
        for model in sorted({r["model"] for r in cells}):
            line: list[TableCell | None] = []
            for b in bins:
                found = [r for r in cells if r["model"] == model and r["bin"] == b]
                if not found:
                    line.append(None)
                    continue
                row = found[0]
                value = None if row.get("value") in (None, "") else float(row["value"])
                best = _best([r for r in cells if r["bin"] == b], higher)
                note = notes.setdefault(str(row["note"]), len(notes) + 1) if row.get("note") else None
                line.append(TableCell(_fmt(metric, row), value, best is not None and value == best, note, metric, b))
            table.rows[model] = line
        table.footers.append(("N", [str(next((r["n"] for r in cells if r["bin"] == b), "")) for b in bins]))
        if any("n_empty" in r for r in cells):
            table.footers.append(("left out: empty / full hole", [_excluded(cells, b) for b in bins]))
        tables.append(table)
    return tables


def efficiency_table(rows: Sequence[Mapping[str, Any]]) -> LeaderTable | None:
    efficiency = [r for r in rows if r["metric"] in EFFICIENCY_COLUMNS]
    if not efficiency:
        return None
    columns = [c for c in EFFICIENCY_COLUMNS if any(r["metric"] == c for r in efficiency)]
    labels = [f"{EFFICIENCY_COLUMNS[c][0]}{_arrow(EFFICIENCY_COLUMNS[c][1])}" for c in columns]
    table = LeaderTable("Efficiency (256x256)", labels)
    for model in sorted({r["model"] for r in efficiency}):
        line: list[TableCell | None] = []
        for column in columns:
            found = [r for r in efficiency if r["model"] == model and r["metric"] == column]
            value = None if not found or found[0].get("value") in (None, "") else float(found[0]["value"])
            line.append(TableCell(_fmt(column, found[0]), value, metric=column, bin="-") if found else None)
        table.rows[model] = line
    if "load_avg_1m" in columns:
        table.remark = (
            "CPU timings are the minimum over repeats; the load average is the machine's at measurement. "
            "Timings taken under different loads are not comparable."
        )
    return table


def _markdown_table(table: LeaderTable) -> list[str]:
    out = ["| model | " + " | ".join(table.columns) + " |", "|---|" + "---|" * len(table.columns)]
    for model, line in table.rows.items():
        texts = []
        for cell in line:
            if cell is None:
                texts.append(" ")
                continue
            text = f"**{cell.text}**" if cell.best else cell.text
            texts.append(text + (f" [{cell.note}]" if cell.note else ""))
        out.append(f"| {model} | " + " | ".join(texts) + " |")
    out += [f"| {label} | " + " | ".join(texts) + " |" for label, texts in table.footers]
    return out


def render_markdown(
    rows: Sequence[Mapping[str, Any]],
    provenance: Mapping[str, Any],
    bin_order: Sequence[str],
    not_shown: Sequence[str] = (),
) -> str:
    """The leaderboard page; a pure function of its inputs (the committed expected file tests it)."""
    out = ["# inpaintbench leaderboard", ""]
    out += [f"- **{key}**: {value}" for key, value in provenance.items()]
    out.append("")
    notes: dict[str, int] = {}
    for group in scored_groups(rows):
        data, protocol, version = group
        out += [f"## {data} / {protocol} (protocol version {version})", ""]
        for table in metric_tables(in_group(rows, group), bin_order, notes):
            out += [f"### {table.title}", ""]
            for recipe in table.recipes:
                out += [f"Recipe: {recipe}", ""]
            out += [*_markdown_table(table), ""]
    efficiency = efficiency_table(rows)
    if efficiency is not None:
        out += [f"## {efficiency.title}", "", *_markdown_table(efficiency), ""]
        if efficiency.remark:
            out += [efficiency.remark, ""]
    if notes:
        out += ["## Notes", ""]
        out += [f"{number}. {text}" for text, number in sorted(notes.items(), key=lambda item: item[1])]
        out.append("")
    if not_shown:
        out += ["## Runs not in the tables", ""]
        out += [f"- {line}" for line in not_shown]
        out.append("")
    return "\n".join(out)


def _arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def _excluded(cells: Sequence[Mapping[str, Any]], bin_name: str) -> str:
    """`n_empty / n_full` of a bin (the same for every model: the masks are the protocol's)."""
    counts = {(int(r.get("n_empty") or 0), int(r.get("n_full") or 0)) for r in cells if r["bin"] == bin_name}
    return ", ".join(f"{e} / {f}" for e, f in sorted(counts))


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repo: str | Path) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip() + (" (dirty)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def collect_provenance(rows: Sequence[Mapping[str, Any]], repo: str | Path) -> dict[str, str]:
    """Git commit, package versions, protocol ids and versions, weights sha256, devices, date."""
    protocols = sorted({f"{r['protocol_id']} (v{r['protocol_version']})" for r in rows})
    weights = sorted(
        {f"{r['model']}: {r['weights_sha256'] or 'none (not a learned model or untrained)'}" for r in rows}
    )
    devices = sorted({str(r["device"]) for r in rows})
    return {
        "git commit": git_commit(repo),
        "packages": ", ".join(f"{k} {v}" for k, v in package_versions().items()),
        "python": platform.python_version(),
        "protocols": "; ".join(protocols) or "none",
        "metric configs": ", ".join(sorted({str(r["metrics_config"]) for r in rows})) or "none",
        "weights sha256": "; ".join(weights) or "none",
        "device": ", ".join(devices) or "none",
        "date": _report_date().strftime("%Y-%m-%d %H:%M UTC"),
    }


def _report_date() -> _dt.datetime:
    """Now, or `SOURCE_DATE_EPOCH` when set (the reproducible-builds convention): identical runs
    then give a byte-identical leaderboard."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return _dt.datetime.fromtimestamp(int(epoch), _dt.UTC)
    return _dt.datetime.now(_dt.UTC)


def write_leaderboard(
    results_root: str | Path,
    repo: str | Path,
    bin_order: Sequence[str],
    select: Sequence[str] = (),
    out_dir: str | Path | None = None,
    stores: Sequence[RunStore] | None = None,
) -> tuple[Path, Path, int, list[str]]:
    """Write leaderboard.csv and leaderboard.md to `out_dir` (default: `results_root`) from the runs
    `stores` (default: every run under `results_root`), one complete run per model, dataset and
    protocol; return their paths, the number of runs shown and one line per run not shown.
    Provenance (the git commit and whether the checkout is dirty) is read before anything is written,
    so regenerating a committed leaderboard does not mark its own checkout dirty."""
    root = Path(results_root)
    rows, not_shown = gather(root, select, stores)
    provenance = collect_provenance(rows, repo)
    out = Path(out_dir) if out_dir is not None else root
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / CSV_NAME, out / "leaderboard.md"
    atomic_write_text(csv_path, render_csv(rows))
    atomic_write_text(md_path, render_markdown(rows, provenance, bin_order, not_shown))
    return csv_path, md_path, len({r["run_hash"] for r in rows}), not_shown
