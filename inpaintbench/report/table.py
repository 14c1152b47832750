"""The table printed after an evaluation: rows = hole-ratio bins + all, one column per metric."""

from __future__ import annotations

from inpaintbench.metrics.aggregate import Cell, Summary
from inpaintbench.metrics.spec import IDS_METRICS, METRICS, SPECS, arrow, metric_order, per_image_metrics


def decimals(name: str, default: int = 4) -> int:
    """Digits shown for a metric (the spec table's), `default` for a column that is not a metric."""
    return SPECS[name].decimals if name in SPECS else default


def format_cell(name: str, cell: Cell | None, footnotes: dict[str, int], with_ci: bool = True) -> str:
    """`0.9123 [0.9050, 0.9180]`; `-` with a footnote mark when unavailable; `*` when unreliable."""
    if cell is None or cell.value is None:
        if cell is not None and cell.note:
            return f"-[{footnotes.setdefault(cell.note, len(footnotes) + 1)}]"
        return "-"
    digits = decimals(name)
    text = f"{cell.value:.{digits}f}"
    if name == "kid" and cell.std is not None:
        text += f" ± {cell.std:.{digits}f}"
    elif with_ci and cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{cell.ci_low:.{digits}f}, {cell.ci_high:.{digits}f}]"
    if cell.n_exact:
        text += f" (+{cell.n_exact} exact)"
    if not cell.reliable and cell.note:
        text += f" *[{footnotes.setdefault(cell.note, len(footnotes) + 1)}]"
    return text


def render_summary(summary: Summary, lpips_nets: tuple[str, ...] = ("alex",)) -> str:
    """A Markdown-style table readable on a terminal, with footnotes for unavailable/unreliable cells."""
    ids = [m for m in IDS_METRICS if m in summary.unavailable or any(m in r.cells for r in summary.rows)]
    per_set = [s.name for s in METRICS if not s.per_image and s.name not in IDS_METRICS]
    columns = metric_order([*per_image_metrics(lpips_nets), *per_set, *ids])
    footnotes: dict[str, int] = {}
    for name, message in summary.unavailable.items():
        if name in columns:
            footnotes.setdefault(message, len(footnotes) + 1)
    arrows = [SPECS[c].label + arrow(c) for c in columns]
    header = ["bin", *arrows, "N", "left out: empty / full hole"]
    lines = [header]
    for row in summary.rows:
        cells = []
        for column in columns:
            if column in summary.unavailable:
                cells.append(f"-[{footnotes[summary.unavailable[column]]}]")
            else:
                cells.append(format_cell(column, row.cells.get(column), footnotes))
        lines.append([row.bin, *cells, str(row.n), f"{row.n_empty} / {row.n_full}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"[{number}] {text}" for text, number in sorted(footnotes.items(), key=lambda item: item[1])]
    if summary.n_errors:
        notes.append(f"{summary.n_errors} sample(s) skipped: unreadable input (first: {summary.errors[0]})")
    recipes = sorted({c.recipe for r in summary.rows for k, c in r.cells.items() if k in ids and c.recipe})
    notes += [f"P-IDS / U-IDS: {recipe}" for recipe in recipes]
    notes.append(
        "[a, b] = 95 % bootstrap interval over images; (+k exact) = images with zero error, not in the PSNR mean; "
        "samples with an empty or a full hole are counted, never scored"
    )
    return "\n".join([*out, "", *notes])
