"""The report's figures draw what the rows say: bands = intervals, hollow = unreliable, forest bars = paired CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import PolyCollection

from inpaintbench.report import plots

BINS = ["0-10", "10-20", "20-30"]


def _cells() -> list[dict]:
    rows = []
    for model, base in (("a", 0.9), ("b", 0.8)):
        for i, b in enumerate(BINS):
            value = base - 0.1 * i
            rows.append({"model": model, "bin": b, "value": value, "ci_low": value - 0.02, "ci_high": value + 0.03,
                         "n": 10 + i, "reliable": b != "20-30"})  # fmt: skip
    return rows


def test_metric_by_bin_band_is_the_interval_and_unreliable_points_are_hollow(tmp_path: Path) -> None:
    colours = plots.model_colours(["a", "b"])
    fig = plots.metric_by_bin(_cells(), "SSIM ↑", BINS, colours)
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.max(), 0.93) and np.isclose(ys.min(), 0.9 - 0.2 - 0.02)  # model a's ci_high / ci_low
    hollow = [line for line in ax.lines if line.get_marker() == "o" and line.get_markerfacecolor() == "white"]
    assert [float(line.get_xdata()[0]) for line in hollow] == [2.0, 2.0]  # the unreliable bin, both models
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0-10\nN=10", "10-20\nN=11", "20-30\nN=12"]
    svg = plots.save_figure(fig, tmp_path / "p.png", "salt")
    assert svg.startswith("<svg") and (tmp_path / "p.png").stat().st_size > 1000


def test_forest_draws_each_paired_interval_and_the_zero_line() -> None:
    rows = [
        {"bin": "0-10", "metric": "ssim", "mean": 0.01, "low": 0.005, "high": 0.02, "n": 9, "verdict": "A better"},
        {"bin": "all", "metric": "ssim", "mean": -0.002, "low": -0.01, "high": 0.004, "n": 20,
         "verdict": "no significant difference"},
    ]  # fmt: skip
    fig = plots.forest({"a": "x", "b": "y", "rows": rows}, {"ssim": "SSIM"}, ["0-10", "10-20", "all"])
    ax = fig.axes[0]
    segments = sorted(tuple(line.get_xdata()) for line in ax.lines if len(line.get_xdata()) == 2)
    assert (-0.01, 0.004) in segments and (0.005, 0.02) in segments
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0-10 (n=9)", "all (n=20)"]
    assert any(tuple(line.get_xdata()) == (0.0, 0.0) for line in ax.lines)  # axvline at zero
