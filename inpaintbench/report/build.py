"""`inpaintbench report`: the leaderboard files, the HTML report and (`check=true`) its browser check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inpaintbench.errors import InpaintbenchError


def write_report(cfg: Any, stores: list[Any] | None = None) -> tuple[Path, Path]:
    """Write leaderboard.csv, leaderboard.md and (`html=true`) report/index.html to paths.leaderboard
    (results/local/, git-ignored): one complete run per model, dataset and protocol
    (`report.selection`) among every run under paths.results (or among `stores`, as `bench` does);
    the others are listed."""
    from inpaintbench.masks import RATIO_BINS
    from inpaintbench.report.leaderboard import write_leaderboard

    select = cfg.get("select") or []
    select = [select] if isinstance(select, str) else [str(s) for s in select]
    csv_path, md_path, n_runs, not_shown = write_leaderboard(
        str(cfg.paths.results),
        str(cfg.paths.repo),
        list(RATIO_BINS),
        select,
        out_dir=str(cfg.paths.leaderboard),
        stores=stores,
    )
    print(f"{n_runs} run(s) -> {csv_path}, {md_path}")
    for line in not_shown:
        print(f"  not shown: {line}")
    if cfg.get("html", True):
        from inpaintbench.report.html import write_html_report

        page = write_html_report(
            str(cfg.paths.results),
            str(cfg.paths.repo),
            list(RATIO_BINS),
            bool(cfg.get("progress", True)),
            select,
            out_dir=str(cfg.paths.leaderboard),
            stores=stores,
        )
        print(f"html report -> {page} ({page.stat().st_size / 1e6:.1f} MB)")
        if cfg.get("check"):
            check_report(page, csv_path, cfg.get("screenshot"))
    return csv_path, md_path


def check_report(page: Path, csv_path: Path, screenshot: str | None) -> None:
    """`report check=true`: open the page in headless Chromium, print what it found, save screenshots
    beside the page (and the desktop one to `screenshot`); a problem found is exit status 1."""
    import shutil

    from inpaintbench.report.browser import BrowserUnavailableError, check_page, format_check

    try:
        result = check_page(page, csv_path, page.parent)
    except BrowserUnavailableError as err:
        raise InpaintbenchError(f"report check=true: {err}") from None
    print("\n".join(format_check(result)))
    if screenshot:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.screenshots[0], screenshot)
        print(f"screenshot -> {screenshot}")
    if result.problems:
        raise SystemExit(1)
