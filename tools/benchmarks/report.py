"""Seconds to write the HTML report of a results folder, and the page's size.

Times `write_html_report` in this process (matplotlib and Jinja2 already imported after the first
repeat; the first repeat is reported apart as the cold figure), with the load average beside each.

Run after `make bench`: `python -m tools.benchmarks.report [--results results] [--repeats 3]`
(writes `results/benchmarks/report.md`; the page goes where `make bench` puts it, `results/local/report/`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from pathlib import Path

import torch

from inpaintbench.config import REPO_ROOT
from inpaintbench.masks import RATIO_BINS
from inpaintbench.report.html import write_html_report
from inpaintbench.report.leaderboard import shown_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--leaderboard", default="results/local", help="paths.leaderboard: the page goes in report/")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "benchmarks" / "report.md"))
    args = parser.parse_args()
    seconds, loads = [], []
    page = Path()
    for _ in range(args.repeats):
        started = time.perf_counter()
        page = write_html_report(args.results, REPO_ROOT, list(RATIO_BINS), progress=False, out_dir=args.leaderboard)
        seconds.append(time.perf_counter() - started)
        loads.append(os.getloadavg()[0])
    html = page.read_text()
    runs = shown_runs(args.results).shown
    samples = sum(1 for run in runs for _ in run.iter_rows())
    lines = [
        "# HTML report generation (`inpaintbench report`, the page part)",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"python {platform.python_version()}",
        f"- input: {args.results} with {len(runs)} runs, {samples} scored samples (the default benchmark: "
        "`make bench`)",
        f"- command: `python -m tools.benchmarks.report --results {args.results} --repeats {args.repeats}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| first (cold) run, s | {seconds[0]:.1f} |",
        f"| median of {len(seconds)} runs, s | {statistics.median(seconds):.1f} |",
        f"| min / max, s | {min(seconds):.1f} / {max(seconds):.1f} |",
        f"| 1-min load average after each run | {', '.join(f'{x:.1f}' for x in loads)} |",
        f"| page size, MB | {page.stat().st_size / 1e6:.2f} |",
        f"| inline thumbnails | {len(re.findall(r'<img ', html))} |",
        f"| inline plots (SVG) | {html.count('<svg')} |",
        "",
        "The machine is shared (2 cores, several engineers' jobs): the load average says how loaded.",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
