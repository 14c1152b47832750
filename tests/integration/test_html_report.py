"""The HTML report end to end: two real evaluations of the sample data (one with save_images=true),
one saved comparison, `inpaintbench report`, then the page checked as files and in headless Chromium."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.saved_images import completed_path, mask_path, real_path, selected_keys
from inpaintbench.report.compare import load_comparisons
from inpaintbench.report.html import environment

PER_IMAGE = ("ssim", "psnr", "l1_whole", "l1_hole")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from inpaintbench import tasks
    from inpaintbench.config import compose

    root = tmp_path_factory.mktemp("html")
    results = root / "results"
    common = [f"paths.results={results}", "limit=1", "progress=false", "print_table=false"]
    common += ["metrics.bootstrap.resamples=100", "data=sample", "masks=irregular"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.hub, "get_dir", lambda: str(root / "empty_hub"))  # backbones unavailable, as in CI
        telea = tasks.evaluate(compose("eval", ["model=opencv_telea", "save_images=true", *common]))
        ns = tasks.evaluate(compose("eval", ["model=opencv_ns", *common]))
        compared = ["a=opencv_telea", "b=opencv_ns", f"paths.results={results}", "metrics.bootstrap.resamples=100"]
        tasks.compare(compose("compare", compared))
        # a second complete run of opencv_ns (another batch size): the tables show one, the page lists the other
        older = tasks.evaluate(compose("eval", ["model=opencv_ns", "batch_size=2", *common]))
        csv_path, md_path = tasks.report(
            compose(
                "report", [f"paths.results={results}", "progress=false", f"select={ns.store.record()['run_hash'][:12]}"]
            )
        )
    page = results / "local" / "report" / "index.html"  # beside paths.leaderboard's CSV and Markdown
    return {
        "results": results,
        "telea": telea,
        "ns": ns,
        "older": older,
        "csv": csv_path,
        "md": md_path,
        "page": page,
        "html": page.read_text(),
    }


def test_save_images_true_writes_every_sample_under_the_input_names_and_they_score_the_same(report: dict) -> None:
    store = report["telea"].store
    rows = list(store.iter_rows())
    assert len(rows) == 6
    for row in rows:
        completed = np.asarray(Image.open(store.path / completed_path(row["image_id"], row["mask_id"])))
        real = np.asarray(Image.open(store.path / real_path(row["image_id"])).convert("RGB"))
        hole = np.asarray(Image.open(store.path / mask_path(row["image_id"], row["mask_id"]))) > 127
        to_tensor = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255  # noqa: E731
        mask = torch.from_numpy(hole.astype(np.float32))[None, None]
        assert float(hole.mean()) == pytest.approx(row["hole_ratio"])
        # another evaluator reading the saved files gets the numbers of the run
        assert float(fn.l1_hole(to_tensor(real), to_tensor(completed), mask)[0]) == pytest.approx(
            row["l1_hole"], abs=1e-6
        )


def test_default_saves_only_the_grid_samples(report: dict) -> None:
    store = report["ns"].store
    rows = list(store.iter_rows())
    keys = selected_keys(rows)
    saved = {p.relative_to(store.path).as_posix() for p in (store.path / "images").rglob("*.png")}
    assert saved == {completed_path(r["image_id"], r["mask_id"]) for r in rows if r["sample_key"] in keys}


def test_page_is_self_contained_and_shows_plots_unavailable_metrics_and_the_comparison(report: dict) -> None:
    html = report["html"]
    assert environment().autoescape is True
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from the network"
    assert "<script" not in html and "<link" not in html
    plots = re.findall(r'data-plot="(plots/[^"]+\.png)"', html)
    assert len(plots) == len(PER_IMAGE) + 1  # one per metric with values + the forest plot of the comparison
    assert all((report["page"].parent / p).is_file() for p in plots)
    assert html.count("<svg") == len(plots)
    assert "alexnet-owt-7be5be79.pth" in html and "pt_inception-2015-12-05" in html  # why LPIPS/FID are missing
    assert "opencv_telea vs opencv_ns" in html
    assert [c["a"] for c in load_comparisons(report["results"])] == ["opencv_telea"]
    assert not re.search(r">\s*(nan|inf)\b", html, re.IGNORECASE)


def test_page_in_headless_chromium(report: dict) -> None:
    from inpaintbench.report.browser import BrowserUnavailableError, check_page, find_browser

    try:
        find_browser()
    except BrowserUnavailableError as err:
        pytest.skip(str(err))
    check = check_page(report["page"], report["csv"], report["page"].parent, expect_plots=len(PER_IMAGE) + 1)
    assert check.problems == []
    assert check.images >= 6 * 4  # per-bin grid: masked input, two models, ground truth
    assert check.cells >= 2 * len(PER_IMAGE) * 7  # models x metrics x (6 bins + all), each equal to the CSV
    assert check.links >= check.images
    for shot in check.screenshots:
        with Image.open(shot) as image:
            assert image.width in (1400, 390) and image.height > 500


def test_page_shows_the_leaderboards_runs_lists_the_others_and_links_its_csv(report: dict) -> None:
    html, page = report["html"], report["page"]
    assert report["csv"].parent == page.parent.parent == report["results"] / "local"
    link = re.search(r'Numbers: <a href="([^"]+)"', html)
    assert link is not None and (page.parent / link.group(1)).resolve() == report["csv"].resolve()
    with open(report["csv"], newline="") as handle:
        in_csv = {row["run_hash"] for row in csv.DictReader(handle)}
    hashes = {name: report[name].store.record()["run_hash"] for name in ("telea", "ns", "older")}
    assert in_csv == {hashes["telea"], hashes["ns"]}
    tables, listed = html.split('id="not-shown"')
    older = report["older"].store.path.relative_to(report["results"]).as_posix()
    assert hashes["older"][:12] not in tables  # in no table, grid or plot
    assert older in listed and "not the run picked by select=" in listed
    assert older in report["md"].read_text()  # the Markdown lists the same run
    assert "left out: empty / full hole" in html  # the per-bin counts of degenerate masks, as in the Markdown
