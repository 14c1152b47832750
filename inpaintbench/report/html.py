"""The HTML report: one page, opened from disk, with provenance, plots, tables and image grids.

`write_html_report` reads what `inpaintbench report` puts in the leaderboard (the runs
`report.selection` shows, their tidy rows and provenance, the runs not shown), each shown run's
per-sample rows and saved images, and the saved comparisons between shown runs, then renders
`templates/index.html.j2` with Jinja2 (autoescaped). Nothing is fetched: styles are inline, plots
are inline SVG (PNG copies beside the page under `plots/`), thumbnails are inline JPEG data URIs
linking to the full-size PNGs in the run directories.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from tqdm import tqdm

from inpaintbench.metrics.aggregate import ALL, scored
from inpaintbench.metrics.saved_images import GRID_PER_BIN, GRID_WORST
from inpaintbench.metrics.spec import SPECS, arrow
from inpaintbench.report import grids, plots
from inpaintbench.report.compare import load_comparisons
from inpaintbench.report.leaderboard import (
    CSV_NAME,
    EFFICIENCY_COLUMNS,
    LeaderTable,
    collect_provenance,
    efficiency_table,
    in_group,
    metric_tables,
    run_rows,
    scored_groups,
    shown_runs,
)
from inpaintbench.results import RunStore, atomic_write_text, slug

#: quality axis of the quality-vs-cost scatter, first available wins
SCATTER_QUALITY = ("lpips_alex", "lpips_vgg", "l1_hole")
SCATTER_COST = "latency_ms_b1"
REPORT_DIR = "report"  # the page's folder, beside leaderboard.csv/.md


@dataclass
class Plot:
    title: str
    svg: Markup
    png: str  # relative to the page


@dataclass
class Section:
    """Everything the page shows for one (data, protocol) group."""

    anchor: str
    title: str
    data: str
    protocol: str
    plots: list[Plot] = field(default_factory=list)
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    tables: list[LeaderTable] = field(default_factory=list)
    scatter: Plot | None = None
    scatter_note: str = ""
    grid_header: list[str] = field(default_factory=list)
    grid_rows: list[grids.GridRow] = field(default_factory=list)
    worst: list[tuple[str, list[grids.GridRow]]] = field(default_factory=list)
    comparisons: list[Plot] = field(default_factory=list)


def _plot(fig: Any, page_dir: Path, name: str, title: str) -> Plot:
    png = page_dir / "plots" / f"{name}.png"
    return Plot(title, Markup(plots.save_figure(fig, png, name)), f"plots/{png.name}")


def _bins(cells: Sequence[Mapping[str, Any]], bin_order: Sequence[str]) -> list[str]:
    present = {str(r["bin"]) for r in cells} - {ALL}
    return [b for b in bin_order if b in present] + sorted(present - set(bin_order))


def _unavailable(cells: Sequence[Mapping[str, Any]]) -> str | None:
    """The reason a metric has no value at all in this group, or None when it has some."""
    if any(r.get("value") not in (None, "") for r in cells):
        return None
    return "; ".join(sorted({str(r["note"]) for r in cells if r.get("note")})) or "no value was computed"


def _scatter(
    section: Section, rows: Sequence[Mapping[str, Any]], group: tuple[str, str, str], colours: Mapping[str, str]
) -> Callable[[Path], None] | None:
    """Plan the quality-vs-cost scatter of one group (None, with a note, when there is nothing to draw)."""
    scored = in_group(rows, group)
    cost = {r["model"]: float(r["value"]) for r in rows if r["metric"] == SCATTER_COST and r.get("value") is not None}
    params = {r["model"]: float(r["value"]) for r in rows if r["metric"] == "params_m" and r.get("value") is not None}
    quality = next(
        (m for m in SCATTER_QUALITY if any(r["metric"] == m and r["bin"] == ALL and r.get("value") for r in scored)),
        None,
    )
    models = sorted({r["model"] for r in scored})
    left_out = [m for m in models if m not in cost or m not in params]
    if left_out:
        section.scatter_note = f"not drawn (no efficiency measured): {', '.join(left_out)}"
    if quality is None or len(left_out) == len(models):
        return None
    points = [
        {"model": r["model"], "quality": float(r["value"]), "cost": cost[r["model"]], "params": params[r["model"]]}
        for r in scored
        if r["metric"] == quality and r["bin"] == ALL and r["model"] in cost and r["model"] in params
    ]
    label = SPECS[quality].label + arrow(quality) + " (all bins)"
    cost_label = EFFICIENCY_COLUMNS[SCATTER_COST][0]

    def draw(page_dir: Path) -> None:
        fig = plots.quality_vs_cost(points, label, cost_label, colours)
        section.scatter = _plot(fig, page_dir, f"{section.anchor}-quality-vs-cost", f"{label} against {cost_label}")

    return draw


def plan_report(
    shown: Sequence[RunStore],
    rows: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    bin_order: Sequence[str],
    notes: dict[str, int],
) -> tuple[list[Section], list[tuple[str, Callable[[Path], None]]]]:
    """The page's sections, and the drawing steps that fill them (run under one progress bar).

    `shown` are the runs in the tables (`rows` are theirs), `comparisons` the saved comparisons
    between two of them; `notes` collects the tables' footnotes (text -> number) for the whole page.
    """
    colours = plots.model_colours([str(r["model"]) for r in rows])
    runs = [(store, store.record()) for store in shown]
    sections: list[Section] = []
    steps: list[tuple[str, Callable[[Path], None]]] = []
    for group in scored_groups(rows):
        data, protocol, version = group
        section = Section(
            slug(f"{data}-{protocol}"), f"{data} / {protocol} (protocol version {version})", data, protocol
        )
        sections.append(section)
        group_rows = in_group(rows, group)
        bins = _bins(group_rows, bin_order)
        metrics = [m for m in SPECS if any(r["metric"] == m for r in group_rows)]
        missing = {m: _unavailable([r for r in group_rows if r["metric"] == m]) for m in metrics}
        section.tables = metric_tables([r for r in group_rows if missing[r["metric"]] is None], bin_order, notes)
        for metric in metrics:
            label = SPECS[metric].label + arrow(metric)
            if missing[metric] is not None:  # metrics sharing one reason (FID, KID) share one line
                same = [i for i, (_, reason) in enumerate(section.unavailable) if reason == missing[metric]]
                if same:
                    section.unavailable[same[0]] = (f"{section.unavailable[same[0]][0]}, {label}", str(missing[metric]))
                else:
                    section.unavailable.append((label, str(missing[metric])))
                continue
            cells = [r for r in group_rows if r["metric"] == metric]
            steps.append((f"plot {protocol} {metric}", _metric_step(section, metric, label, cells, bins, colours)))
        scatter = _scatter(section, rows, group, colours)
        if scatter is not None:
            steps.append((f"scatter {protocol}", scatter))
        group_runs = [
            grids.RunImages(record["model"], store.path, [x for x in store.iter_rows() if scored(x)])
            for store, record in runs
            if (record["data"], record["protocol_id"]) == (data, protocol)
        ]
        group_runs = sorted((r for r in group_runs if r.rows), key=lambda r: r.model)
        if group_runs:
            steps.append((f"grid {protocol}", _grid_step(section, group_runs, bins)))
            for run in group_runs:
                steps.append((f"worst {run.model}", _worst_step(section, run)))
        for number, comparison in enumerate(
            c for c in comparisons if (c["data"], c["protocol_id"]) == (data, protocol)
        ):
            steps.append(
                (f"forest {comparison['a']} vs {comparison['b']}", _forest_step(section, comparison, bins, number))
            )
    return sections, steps


Step = Callable[[Path], None]


def _metric_step(
    section: Section,
    metric: str,
    label: str,
    cells: Sequence[Mapping[str, Any]],
    bins: Sequence[str],
    colours: Mapping[str, str],
) -> Step:
    def draw(page_dir: Path) -> None:
        fig = plots.metric_by_bin([r for r in cells if r["bin"] != ALL], label, bins, colours)
        section.plots.append(_plot(fig, page_dir, f"{section.anchor}-{metric}", label))

    return draw


def _grid_step(section: Section, runs: Sequence[grids.RunImages], bins: Sequence[str]) -> Step:
    def draw(page_dir: Path) -> None:
        section.grid_header, section.grid_rows = grids.comparison_grid(runs, bins, page_dir)

    return draw


def _worst_step(section: Section, run: grids.RunImages) -> Step:
    def draw(page_dir: Path) -> None:
        section.worst.append((run.model, grids.worst_grid(run, page_dir)))

    return draw


def _forest_step(section: Section, comparison: Mapping[str, Any], bins: Sequence[str], number: int) -> Step:
    labels = {m: spec.label for m, spec in SPECS.items()}

    def draw(page_dir: Path) -> None:
        fig = plots.forest(comparison, labels, [*bins, ALL])
        name = f"{section.anchor}-compare-{number}-{slug(comparison['a'])}-vs-{slug(comparison['b'])}"
        section.comparisons.append(_plot(fig, page_dir, name, f"{comparison['a']} vs {comparison['b']}"))

    return draw


def environment() -> Environment:
    return Environment(loader=PackageLoader("inpaintbench.report", "templates"), autoescape=True)


def split_comparisons(
    comparisons: Sequence[Mapping[str, Any]], shown_hashes: set[str]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Comparisons between two runs the tables show, and one line per other saved comparison (it was
    made on runs the page does not show: another selection, or runs since superseded)."""
    drawn, skipped = [], []
    for comparison in comparisons:
        if {comparison["run_a"], comparison["run_b"]} <= shown_hashes:
            drawn.append(comparison)
        else:
            skipped.append(
                f"{comparison['a']} vs {comparison['b']} on {comparison['data']} / {comparison['protocol_id']} "
                f"(runs {comparison['run_a'][:12]}, {comparison['run_b'][:12]}): a run is not in the tables"
            )
    return drawn, skipped


def write_html_report(
    results_root: str | Path,
    repo: str | Path,
    bin_order: Sequence[str],
    progress: bool = True,
    select: Sequence[str] = (),
    out_dir: str | Path | None = None,
    stores: Sequence[RunStore] | None = None,
) -> Path:
    """Write `<out_dir>/report/index.html` (and `plots/*.png`) beside the leaderboard that
    `write_leaderboard(results_root, repo, bin_order, select, out_dir, stores)` writes to `out_dir`
    (default `results_root`): the same runs (`shown_runs`), the same not-shown list, and every saved
    comparison between two of the runs shown."""
    started = time.perf_counter()
    root = Path(results_root)
    out = Path(out_dir) if out_dir is not None else root
    page_dir = out / REPORT_DIR
    page_dir.mkdir(parents=True, exist_ok=True)
    choice = shown_runs(root, select, stores)
    rows = [row for store in choice.shown for row in run_rows(store)]
    comparisons, skipped = split_comparisons(load_comparisons(root), {str(r["run_hash"]) for r in rows})
    notes: dict[str, int] = {}
    sections, steps = plan_report(choice.shown, rows, comparisons, bin_order, notes)
    for _name, step in tqdm(steps, desc="html report", unit="step", disable=not progress):
        step(page_dir)
    page = (
        environment()
        .get_template("index.html.j2")
        .render(
            provenance=collect_provenance(rows, repo),
            sections=sections,
            efficiency=efficiency_table(rows),
            notes=sorted(notes.items(), key=lambda item: item[1]),
            not_shown=choice.not_shown,
            skipped_comparisons=skipped,
            csv_link=Path(os.path.relpath(out / CSV_NAME, page_dir)).as_posix(),
            runs_folder=str(root / "runs"),
            n_runs=len({r["run_hash"] for r in rows}),
            seconds=time.perf_counter() - started,
            grid_per_bin=GRID_PER_BIN,
            grid_worst=GRID_WORST,
        )
    )
    target = page_dir / "index.html"
    atomic_write_text(target, page)
    return target
