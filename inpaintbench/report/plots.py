"""The report's figures, drawn with matplotlib: metric by hole-ratio bin, quality vs cost, forest plots.

Each figure is written as a PNG beside the page (for slides) and returned as SVG text to inline;
SVG text stays text (`svg.fonttype: none`) and ids are salted per figure, so several inline SVGs
never share a clip-path id. Colours are fixed per model across every figure of one report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # no display, no GUI toolkit: the report is drawn on servers and in CI

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """A stable colour per model name (tab10, then tab20 for more than ten)."""
    names = sorted(set(models))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: matplotlib.colors.to_hex(cmap(i % cmap.N)) for i, name in enumerate(names)}


def save_figure(fig: Figure, png_path: Path, salt: str) -> str:
    """Write `png_path` and return the SVG markup (from `<svg` on) to inline in the page."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(png_path, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _value(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value in (None, ""):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def metric_by_bin(
    cells: Sequence[Mapping[str, Any]], label: str, bins: Sequence[str], colours: Mapping[str, str]
) -> Figure:
    """One line per model over the hole-ratio bins; band = 95 % interval; hollow marker = unreliable.

    The tick labels carry N per bin, so a reader sees how much each point rests on.
    """
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.8, 2.8))  # no tight_layout: it would shrink the axes for the legend
        x = list(range(len(bins)))
        for model in sorted({str(r["model"]) for r in cells}):
            by_bin = {str(r["bin"]): r for r in cells if r["model"] == model}
            ys = [_value(by_bin[b], "value") if b in by_bin else None for b in bins]
            points = [(i, y) for i, y in zip(x, ys, strict=True) if y is not None]
            if not points:
                continue
            colour = colours[model]
            ax.plot([p[0] for p in points], [p[1] for p in points], color=colour, linewidth=1.5, label=model)
            band = [
                (i, _value(by_bin[b], "ci_low"), _value(by_bin[b], "ci_high"))
                for i, b in zip(x, bins, strict=True)
                if b in by_bin
            ]
            band = [p for p in band if p[1] is not None and p[2] is not None]
            if band:
                ax.fill_between(
                    [p[0] for p in band], [p[1] for p in band], [p[2] for p in band], color=colour, alpha=0.15
                )
            for i, b in zip(x, bins, strict=True):
                y = ys[i]
                if y is None:
                    continue
                reliable = by_bin[b].get("reliable", True) not in (False, "False")
                ax.plot(i, y, "o", color=colour, markersize=4, markerfacecolor=colour if reliable else "white")
        ns = [next((str(r["n"]) for r in cells if r["bin"] == b and r.get("n") not in (None, "")), "?") for b in bins]
        ax.set_xticks(x, [f"{b}\nN={n}" for b, n in zip(bins, ns, strict=True)])
        ax.set_xlabel("hole ratio (%)")
        ax.set_ylabel(label)
        ax.set_title(label, loc="left", fontsize=10, fontweight="bold")
        # right of the axes, never over a line or a label; bbox_inches="tight" keeps it in the file
        ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def quality_vs_cost(
    points: Sequence[Mapping[str, Any]], quality_label: str, cost_label: str, colours: Mapping[str, str]
) -> Figure:
    """Scatter of `quality` against `cost` per model; marker area grows with `params` (millions)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
        largest = max((float(p["params"]) for p in points), default=1.0) or 1.0
        for point in points:
            size = 40 + 400 * float(point["params"]) / largest
            ax.scatter(point["cost"], point["quality"], s=size, color=colours[point["model"]], alpha=0.75)
            ax.annotate(
                f"{point['model']}\n{float(point['params']):.2f} M params",
                (point["cost"], point["quality"]),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=7,
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor log labels collide
        ax.set_xlabel(cost_label + " (log scale)")
        ax.set_ylabel(quality_label)
        ax.set_title(f"{quality_label} against {cost_label}", loc="left", fontsize=10, fontweight="bold")
        ax.margins(x=0.25, y=0.2)
        fig.tight_layout()
    return fig


VERDICT_COLOURS = {"A better": "#1b7837", "B better": "#b2182b"}


def forest(comparison: Mapping[str, Any], labels: Mapping[str, str], bins: Sequence[str]) -> Figure:
    """Paired differences A - B per bin with 95 % intervals, one panel per metric, zero line marked."""
    rows = comparison["rows"]
    metrics = [m for m in labels if any(r["metric"] == m for r in rows)]
    with plt.rc_context(STYLE):
        columns = min(3, max(1, len(metrics)))
        lines = math.ceil(len(metrics) / columns) or 1
        fig, axes = plt.subplots(lines, columns, figsize=(3.0 * columns + 0.6, 0.28 * len(bins) * lines + 1.0 * lines))
        flat = list(axes.ravel()) if hasattr(axes, "ravel") else [axes]
        for ax, metric in zip(flat, metrics, strict=False):
            present = [b for b in bins if any(r["bin"] == b and r["metric"] == metric for r in rows)]
            for y, name in enumerate(present):
                row = next(r for r in rows if r["bin"] == name and r["metric"] == metric)
                colour = VERDICT_COLOURS.get(row["verdict"], "#555555")
                ax.plot([row["low"], row["high"]], [y, y], color=colour, linewidth=1.6)
                ax.plot(row["mean"], y, "s", color=colour, markersize=4)
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_yticks(range(len(present)), [f"{b} (n={_pairs(rows, b, metric)})" for b in present], fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{labels[metric]}: A - B", fontsize=9, loc="left")
            ax.tick_params(axis="x", labelsize=7)
        for ax in flat[len(metrics) :]:
            ax.set_visible(False)
        fig.suptitle(
            f"A = {comparison['a']}, B = {comparison['b']}   (green: A better, red: B better, grey: no difference)",
            fontsize=9,
            x=0.01,
            ha="left",
        )
        fig.tight_layout()
    return fig


def _pairs(rows: Sequence[Mapping[str, Any]], name: str, metric: str) -> int:
    return int(next(r["n"] for r in rows if r["bin"] == name and r["metric"] == metric))
