"""The metric runner end to end with in-test stand-ins for the dataset, mask protocol and backbones:
resume after a crash gives the identical table, bins follow the measured ratio, inputs never mix."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaintbench import create_model
from inpaintbench.evaluation.runner import EvalContext, evaluate_context
from inpaintbench.metrics.backbones import BackboneUnavailableError
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.ids import IDSConfig, inception_discriminative_scores
from inpaintbench.metrics.suite import MetricSuite
from inpaintbench.report.compare import compare_runs
from inpaintbench.report.leaderboard import render_csv, render_markdown, run_rows
from inpaintbench.report.table import render_summary
from inpaintbench.results import ArrayCache, RunMismatchError, RunStore

BINS = ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60", "60-100"]


def ratio_bin(ratio: float) -> str:
    for i, name in enumerate(BINS[:-1]):
        if ratio < (i + 1) / 10:
            return name
    return BINS[-1]


@dataclass(frozen=True)
class Sample:
    mask_id: str
    image_id: str
    label: str


class StandInProtocol:
    """Two box masks per image; the label claims '10-20' for every mask whatever its real size."""

    name, version, protocol_id = "standin", "v1", "standin@v1/seed0"

    def samples(self, image_ids: list[str]) -> list[Sample]:
        return [Sample(f"{i}:{k}", i, "10-20") for i in image_ids for k in range(2)]

    def render(self, sample: Sample, height: int, width: int) -> np.ndarray:
        side = 4 + int(hashlib.sha256(sample.mask_id.encode()).hexdigest(), 16) % 24  # 4..27 px of 32
        mask = np.zeros((height, width), np.uint8)
        mask[:side, : min(width, side + 2)] = 1
        return mask


class StandInDataset:
    def __init__(self, n: int, broken: int | None = None) -> None:
        self.ids = [f"img{i:02d}.png" for i in range(n)]
        self.broken = broken

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        if index == self.broken:
            return {"id": self.ids[index], "error": f"{self.ids[index]}: cannot decode image"}
        g = torch.Generator().manual_seed(index)
        image = torch.rand(3, 32, 32, generator=g)
        image = torch.nn.functional.avg_pool2d(image[None], 3, 1, 1)[0]  # some spatial structure
        return {"image": torch.round(image * 255) / 255, "id": self.ids[index]}


class StandInInception(torch.nn.Module):
    dims = 24

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.proj = torch.nn.Parameter(torch.randn(48, self.dims, generator=g) / 7, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) @ self.proj


class StandInLPIPS(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0), requires_grad=False)

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.avg_pool2d(real - fake, 4)
        return self.scale * pooled.abs().mean(dim=(1, 2, 3))


class Crashing:
    """Delegates to an inpainter and raises on the `fail_at`-th batch (an interrupted run)."""

    def __init__(self, inner: object, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return self.inner.inpaint(image, mask)


CONFIG = MetricConfig(kid_subsets=5, kid_subset_size=8, bootstrap_resamples=200, fid_min_n=10)


def context(root: Path, model: object = None, n: int = 12, broken: int | None = None) -> EvalContext:
    suite = MetricSuite(
        config=CONFIG,
        inception=StandInInception(),
        lpips={"alex": StandInLPIPS()},
        cache=ArrayCache(root / "cache" / "features"),
    )
    dataset = StandInDataset(n, broken)
    return EvalContext(
        model=model or create_model("opencv_telea"),
        model_name="opencv_telea",
        model_key="opencv_telea-test",
        dataset=dataset,
        image_ids=list(dataset.ids),
        protocol=StandInProtocol(),
        suite=suite,
        data_identity={"name": "standin", "size": 32},
        hole_ratio=lambda m: float(np.asarray(m, np.float64).mean()),
        ratio_bin=ratio_bin,
        ratio_bins=BINS,
        device=torch.device("cpu"),
        batch_size=3,
        shard_size=5,
        completed_cache=ArrayCache(root / "cache" / "completed"),
        progress=False,
    )


def _shard_bytes(store: RunStore) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.shard_dir.iterdir())}


def test_resume_after_an_exception_half_way_gives_the_identical_table(tmp_path: Path) -> None:
    whole = evaluate_context(context(tmp_path / "a"), tmp_path / "a", "standin", {"k": 1}, efficiency=False)

    crashing = Crashing(create_model("opencv_telea"), fail_at=5)  # 24 samples, batches of 3 in shards of 5
    with pytest.raises(KeyboardInterrupt):
        evaluate_context(context(tmp_path / "b", crashing), tmp_path / "b", "standin", {"k": 1}, efficiency=False)
    partial = RunStore(RunStore.for_key(tmp_path / "b", _key(tmp_path / "b")))
    assert 0 < len(partial.done_shards()) < 5
    resumed = evaluate_context(context(tmp_path / "b"), tmp_path / "b", "standin", {"k": 1}, efficiency=False)

    assert resumed.store.path.relative_to(tmp_path / "b") == whole.store.path.relative_to(tmp_path / "a")
    assert resumed.summary.to_json() == whole.summary.to_json()
    assert _shard_bytes(resumed.store) == _shard_bytes(whole.store)
    assert render_summary(resumed.summary) == render_summary(whole.summary)


def _key(root: Path):
    from inpaintbench.evaluation.runner import build_manifest, run_key

    ctx = context(root)
    ctx.manifest = build_manifest(ctx, ctx.protocol.samples(ctx.image_ids))
    return run_key(ctx, "standin", ctx.batch_size)


def test_rows_route_by_measured_ratio_and_keep_the_protocol_label(tmp_path: Path) -> None:
    outcome = evaluate_context(context(tmp_path, n=6), tmp_path, "standin", {}, efficiency=False)
    rows = list(outcome.store.iter_rows())
    assert [r["index"] for r in rows] == list(range(12))
    assert {r["label"] for r in rows} == {"10-20"}
    assert len({r["bin"] for r in rows}) > 1  # measured sizes differ from the label
    protocol = StandInProtocol()
    for row in rows:
        mask = protocol.render(Sample(row["mask_id"], row["image_id"], row["label"]), 32, 32)
        assert row["hole_ratio"] == pytest.approx(mask.mean())
        assert row["bin"] == ratio_bin(mask.mean())
    summary = outcome.summary
    assert [r.bin for r in summary.rows][-1] == "all"
    assert sum(r.n for r in summary.rows[:-1]) == summary.row("all").n == 12
    by_bin = {}
    for row in rows:
        by_bin.setdefault(row["bin"], []).append(row["ssim"])
    for bin_row in summary.rows[:-1]:
        assert bin_row.cells["ssim"].value == pytest.approx(np.mean(by_bin[bin_row.bin]), abs=1e-12)
        assert bin_row.cells["fid"].reliable is (bin_row.n >= CONFIG.fid_min_n)
    text = render_summary(summary)
    for column in ("SSIM", "PSNR", "L1 (whole)", "L1 (hole)", "LPIPS-alex", "FID", "KID", "N"):
        assert column in text


def test_unreadable_images_become_error_rows_and_are_reported(tmp_path: Path) -> None:
    outcome = evaluate_context(context(tmp_path, n=4, broken=1), tmp_path, "standin", {}, efficiency=False)
    assert outcome.summary.n_errors == 2 and outcome.summary.row("all").n == 6
    assert "cannot decode image" in render_summary(outcome.summary)


def test_changed_input_gets_a_new_directory_and_a_tampered_record_is_refused(tmp_path: Path) -> None:
    first = evaluate_context(context(tmp_path, n=4), tmp_path, "standin", {}, efficiency=False)
    second = evaluate_context(context(tmp_path, n=5), tmp_path, "standin", {}, efficiency=False)
    assert first.store.path != second.store.path
    record = json.loads((first.store.path / "run.json").read_text())
    record["run_hash"] = "0" * 64
    (first.store.path / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunMismatchError, match="differs from the current"):
        evaluate_context(context(tmp_path, n=4), tmp_path, "standin", {}, efficiency=False)


def test_completed_images_are_reused_so_a_new_metric_config_does_not_rerun_the_model(tmp_path: Path) -> None:
    evaluate_context(context(tmp_path, n=4), tmp_path, "standin", {}, efficiency=False)
    counting = Crashing(create_model("opencv_telea"), fail_at=-1)
    ctx = context(tmp_path, counting, n=4)
    ctx.suite.config = MetricConfig(kid_subsets=3, kid_subset_size=4, bootstrap_resamples=100, fid_min_n=10)
    outcome = evaluate_context(ctx, tmp_path, "standin", {}, efficiency=False)
    assert counting.calls == 0
    assert outcome.summary.row("all").n == 8


def test_paired_comparison_of_two_runs(tmp_path: Path) -> None:
    telea = evaluate_context(context(tmp_path, n=6), tmp_path, "standin", {}, efficiency=False)
    ctx = context(tmp_path, create_model("opencv_ns", radius=1.0), n=6)
    ctx.model_name, ctx.model_key = "opencv_ns", "opencv_ns-test"
    ns = evaluate_context(ctx, tmp_path, "standin", {}, efficiency=False)
    rows = compare_runs(telea.store, ns.store, CONFIG, BINS)
    overall = [r for r in rows if r.bin == "all"]
    assert {r.metric for r in overall} == {"ssim", "psnr", "l1_whole", "l1_hole", "lpips_alex"}
    assert all(r.result.n == 12 for r in overall)
    self_rows = compare_runs(telea.store, telea.store, CONFIG, BINS)
    assert all(r.result.verdict == "no significant difference" and r.result.mean == 0 for r in self_rows)


def test_evaluate_task_end_to_end_on_four_sample_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real pipeline (sample data, irregular protocol, OpenCV Telea) through tasks.evaluate and
    tasks.report; no backbone weights here, so FID/KID/LPIPS take the 'unavailable' path."""
    from inpaintbench import tasks
    from inpaintbench.config import compose

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    results = tmp_path / "results"
    overrides = [f"paths.results={results}", "limit=4", "progress=false", "metrics.bootstrap.resamples=100"]
    cfg = compose("eval", ["model=opencv_telea", "masks=irregular", "data=sample", *overrides])
    outcome = tasks.evaluate(cfg)
    summary = outcome.summary
    assert summary.row("all").n == 4 * 6  # 4 images x 6 irregular buckets
    assert set(summary.unavailable) == {"fid", "kid", "lpips_alex"}
    assert 0 < summary.row("all").cells["ssim"].value < 1
    rows = list(outcome.store.iter_rows())
    assert {r["label"] for r in rows} == {"0-10", "10-20", "20-30", "30-40", "40-50", "50-60"}  # protocol's own
    assert {r["bin"] for r in rows} <= {"0-10", "10-20", "20-30", "30-40", "40-50", "50-60", "60-100"}

    again = tasks.evaluate(cfg)  # everything on disk: nothing recomputed, same table
    assert again.summary.to_json() == summary.to_json() and again.store.path == outcome.store.path

    csv_path, md_path = tasks.report(compose("report", [f"paths.results={results}"]))
    text = md_path.read_text()
    assert "opencv_telea" in text and "irregular" in text and "alexnet-owt-7be5be79.pth" in text
    assert "opencv_telea" in csv_path.read_text()


IDS_CONFIG = replace(CONFIG, ids=IDSConfig(enabled=True, split="halves", ties="half", min_n=10))


def test_ids_columns_per_bin_equal_an_svm_on_the_stored_features(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.suite.config = IDS_CONFIG
    outcome = evaluate_context(ctx, tmp_path, "standin", {}, efficiency=False)
    store, summary = outcome.store, outcome.summary
    rows = list(store.iter_rows())
    real = np.concatenate([store.read_features(s, "inception_real") for s in store.done_shards()])
    fake = np.concatenate([store.read_features(s, "inception_fake") for s in store.done_shards()])
    assert len(rows) == len(real) == 24
    for bin_row in summary.rows:
        members = [i for i, row in enumerate(rows) if bin_row.bin in (row["bin"], "all")]
        p_ids, u_ids = bin_row.cells["p_ids"], bin_row.cells["u_ids"]
        assert p_ids.recipe == u_ids.recipe == IDS_CONFIG.ids.describe()
        if len(members) < 2:
            assert p_ids.value is None and "at least 2" in p_ids.note
            continue
        expected = inception_discriminative_scores(real[members], fake[members], IDS_CONFIG.ids)
        assert (p_ids.value, u_ids.value) == (expected.p_ids, expected.u_ids)
        assert p_ids.n == len(members) and p_ids.reliable is (len(members) >= 10)
    overall = summary.row("all").cells
    assert 0 < overall["p_ids"].value < 0.5 and 0 < overall["u_ids"].value <= 0.5  # a copy of the hole-free part
    text = render_summary(summary)
    assert "P-IDS ↑" in text and "U-IDS ↑" in text and "custom recipe: LinearSVC(dual=False) C=1" in text

    tidy = run_rows(store)
    csv_rows = list(csv.DictReader(io.StringIO(render_csv(tidy))))
    ids_rows = [r for r in csv_rows if r["metric"] in ("p_ids", "u_ids")]
    assert len(ids_rows) == 2 * len(summary.rows) and all(r["recipe"] == p_ids.recipe for r in ids_rows)
    page = render_markdown(tidy, {"date": "-"}, BINS)
    assert "### P-IDS ↑ higher is better" in page and f"Recipe: {p_ids.recipe}" in page


def test_ids_without_inception_weights_show_as_unavailable_with_the_fid_footnote(tmp_path: Path) -> None:
    def missing() -> torch.nn.Module:
        raise BackboneUnavailableError("FID Inception weights not found: place pt_inception-2015-12-05.pth in /hub")

    ctx = context(tmp_path, n=3)
    ctx.suite = MetricSuite.build(IDS_CONFIG, inception_factory=missing, lpips_factory=lambda net: StandInLPIPS())
    outcome = evaluate_context(ctx, tmp_path, "standin", {}, efficiency=False)
    assert set(outcome.summary.unavailable) == {"fid", "kid", "p_ids", "u_ids"}
    text = render_summary(outcome.summary)
    header, _, first = text.splitlines()[:3]
    assert "P-IDS" in header and "U-IDS" in header and first.count("-[1]") == 4  # FID, KID, P-IDS, U-IDS
    assert "[1] FID Inception weights not found" in text
    page = render_markdown(run_rows(outcome.store), {"date": "-"}, BINS)
    assert "### P-IDS" in page and "1. FID Inception weights not found" in page


def test_save_images_on_a_finished_run_writes_every_image_and_keeps_the_shards(tmp_path: Path) -> None:
    """A run scored before `save_images=true` is redone from the caches: same shard bytes, every PNG."""
    from inpaintbench.metrics.saved_images import completed_path, selected_keys

    ctx = context(tmp_path, n=16)
    ctx.shard_size = 32  # one shard: the grid choice is the global one
    first = evaluate_context(ctx, tmp_path, "standin", {"k": 1}, efficiency=False)
    before = _shard_bytes(first.store)
    rows = list(first.store.iter_rows())
    saved = {
        r["sample_key"] for r in rows if (first.store.path / completed_path(r["image_id"], r["mask_id"])).is_file()
    }
    assert saved == selected_keys(rows) and len(saved) < len(rows)  # by default only the report's grid samples

    ctx = context(tmp_path, Crashing(create_model("opencv_telea"), fail_at=1), n=16)  # the model must not run again
    ctx.shard_size, ctx.save_images = 32, True
    again = evaluate_context(ctx, tmp_path, "standin", {"k": 1}, efficiency=False)
    assert _shard_bytes(again.store) == before and again.summary.to_json() == first.summary.to_json()
    assert all((again.store.path / completed_path(r["image_id"], r["mask_id"])).is_file() for r in rows)
