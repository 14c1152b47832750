"""Leaderboard rendering: a fixed set of tidy rows gives exactly the committed Markdown; CSV round-trips."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from inpaintbench.report.leaderboard import CSV_FIELDS, render_csv, render_markdown

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "leaderboard_expected.md"
BINS = ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60", "60-100"]
PROVENANCE = {
    "git commit": "0123456789abcdef0123456789abcdef01234567",
    "packages": "torch 2.14.1, torchmetrics 1.9.0",
    "protocols": "irregular@v1/seed0 (v1)",
    "weights sha256": "pconv_unet_tiny: ab12; opencv_telea: none",
    "device": "cpu",
    "date": "2026-01-01 00:00 UTC",
}


def _row(model: str, bin_: str, metric: str, value: float | None, **extra: object) -> dict[str, object]:
    base = {"model": model, "data": "sample", "protocol_id": "irregular@v1/seed0", "protocol_version": "v1",
            "bin": bin_, "metric": metric, "value": value, "ci_low": None, "ci_high": None, "std": None, "n": 40,
            "n_exact": 0, "reliable": True, "note": "", "weights_sha256": "", "metrics_config": "default@v1",
            "device": "cpu", "run_hash": model}  # fmt: skip
    return {**base, **extra}


def fixed_rows() -> list[dict[str, object]]:
    rows = []
    for model, ssim, psnr, fid in (("opencv_telea", 0.91, 30.5, 12.0), ("pconv_unet_tiny", 0.93, 29.8, 9.5)):
        for b, shift in (("0-10", 0.05), ("10-20", 0.0), ("all", 0.02)):
            rows.append(_row(model, b, "ssim", ssim + shift, ci_low=ssim + shift - 0.01, ci_high=ssim + shift + 0.01))
            rows.append(_row(model, b, "psnr", psnr + 10 * shift, ci_low=psnr - 1, ci_high=psnr + 1, n_exact=1))
            small = b != "all"
            note = "N=40 < 2048 (fid.min_n): FID is biased at this size, compare KID" if small else ""
            rows.append(_row(model, b, "fid", fid + 10 * shift, reliable=not small, note=note))
        rows.append(_row(model, "all", "lpips_alex", None, reliable=False,
                         note="LPIPS-alex unavailable: alexnet-owt-7be5be79.pth not found in /cache"))  # fmt: skip
    rows.append(_row("pconv_unet_tiny", "-", "params_m", 0.52, n=None))
    rows.append(_row("pconv_unet_tiny", "-", "latency_ms_b1", 12.5, n=None))
    return rows


def test_leaderboard_markdown_of_fixed_rows_matches_the_committed_file() -> None:
    text = render_markdown(fixed_rows(), PROVENANCE, BINS)
    assert text == EXPECTED.read_text()


def test_best_value_is_bold_respecting_direction_and_unreliable_values_never_win() -> None:
    text = render_markdown(fixed_rows(), PROVENANCE, BINS)
    ssim_table = text.split("### SSIM")[1].split("###")[0]
    assert "| pconv_unet_tiny | **0.9800 [0.9700, 0.9900]**" in ssim_table  # higher is better
    fid_table = text.split("### FID")[1].split("###")[0]
    assert "**9.70**" in fid_table and "**9.50**" not in fid_table  # lower wins, only reliable (all) bin bolded
    assert "**10.00**" not in fid_table


def test_csv_is_tidy_and_round_trips() -> None:
    rows = fixed_rows()
    parsed = list(csv.DictReader(io.StringIO(render_csv(rows))))
    assert list(parsed[0]) == CSV_FIELDS and len(parsed) == len(rows)
    assert float(parsed[0]["value"]) == rows[0]["value"]
    assert parsed[-3]["value"] == "" and "unavailable" in parsed[-3]["note"]
