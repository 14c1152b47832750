"""The table printed after an evaluation: rows = hole-ratio bins + all, one column per metric."""

from __future__ import annotations

from inpaintbench.metrics.aggregate import Cell, Summary
from inpaintbench.metrics.config import METRIC_COLUMNS

#: decimals shown per metric
DECIMALS = {
    "ssim": 4, "psnr": 2, "l1_whole": 4, "l1_hole": 4, "lpips_alex": 4, "lpips_vgg": 4, "fid": 2, "kid": 4,
    "p_ids": 4, "u_ids": 4,
}  # fmt: skip


def metric_order(metrics: list[str]) -> list[str]:
    return [m for m in METRIC_COLUMNS if m in metrics]


def format_cell(name: str, cell: Cell | None, footnotes: dict[str, int], with_ci: bool = True) -> str:
    """`0.9123 [0.9050, 0.9180]`; `-` with a footnote mark when unavailable; `*` when unreliable."""
    if cell is None or cell.value is None:
        if cell is not None and cell.note:
            return f"-[{footnotes.setdefault(cell.note, len(footnotes) + 1)}]"
        return "-"
    digits = DECIMALS.get(name, 4)
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
    ids = [m for m in ("p_ids", "u_ids") if m in summary.unavailable or any(m in r.cells for r in summary.rows)]
    columns = metric_order(
        ["ssim", "psnr", "l1_whole", "l1_hole", *[f"lpips_{n}" for n in lpips_nets], "fid", "kid", *ids]
    )
    footnotes: dict[str, int] = {}
    for name, message in summary.unavailable.items():
        if name in columns:
            footnotes.setdefault(message, len(footnotes) + 1)
    arrows = [METRIC_COLUMNS[c][0] + (" ↑" if METRIC_COLUMNS[c][1] else " ↓") for c in columns]
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
