"""Damaged results and failing disks: one line naming the file, exit status 2, nothing finished lost.

In-process fault injection (fast); the subprocess kill -9 / SIGINT cases are in
test_reliability_kill.py.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest
import reliability_kit as kit
import torch

from inpaintbench.config import compose
from inpaintbench.results import RunStore


@pytest.fixture(autouse=True)
def _no_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return kit.make_dataset(tmp_path / "data")


def test_a_truncated_shard_is_refused_by_eval_and_kept_out_of_the_report(
    tmp_path: Path, data: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    results = tmp_path / "results"
    outcome = kit.evaluate(results, *data)
    shard = outcome.store.shard_dir / "000001.jsonl"
    lines = shard.read_text().splitlines(keepends=True)
    shard.write_text(lines[0])  # cut at a line boundary: valid JSON lines, one row missing
    assert kit.cli(["eval", *kit.overrides(results, *data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "000001.jsonl: holds 1 row(s), expected samples 2..3" in err
    kit.report(results)
    text = (results / "local" / "leaderboard.md").read_text()
    assert "### SSIM" not in text and "000001.jsonl: holds 1 row(s)" in text
    shard.unlink()  # the remedy the message names: delete it and rerun
    assert kit.evaluate(results, *data).summary.to_json() == outcome.summary.to_json()


def test_a_corrupt_run_json_refuses_that_run_and_the_others_still_report(
    tmp_path: Path, data: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    results = tmp_path / "results"
    broken = kit.evaluate(results, *data)
    kept = kit.evaluate(results, *data, "model=opencv_ns")
    (broken.store.path / "run.json").write_text('{"model": "opencv_telea", "run_ha')
    assert kit.cli(["eval", *kit.overrides(results, *data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{broken.store.path / 'run.json'}: unreadable or corrupt" in err
    assert kit.cli(["report", f"paths.results={results}"]) == 0
    text = (results / "local" / "leaderboard.md").read_text()
    assert "| opencv_ns |" in text and "| opencv_telea |" not in text
    assert (
        "unreadable, not shown" in text and kept.store.path.name in (results / "local" / "leaderboard.csv").read_text()
    )


def test_a_corrupt_summary_is_listed_by_report_and_rewritten_by_eval(tmp_path: Path, data: tuple[Path, Path]) -> None:
    results = tmp_path / "results"
    outcome = kit.evaluate(results, *data)
    (outcome.store.path / "summary.json").write_text("{not json")
    kit.report(results)
    assert "summary.json: unreadable or corrupt" in (results / "local" / "leaderboard.md").read_text()
    assert kit.evaluate(results, *data).summary.to_json() == outcome.summary.to_json()


def test_disk_full_is_one_line_leaves_no_temporaries_and_resume_completes(
    tmp_path: Path, data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    whole = kit.evaluate(tmp_path / "whole", *data)
    results = tmp_path / "results"
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        if ".000001.jsonl." in os.readlink(f"/proc/self/fd/{fd}"):  # the disk fills up at shard 1's rows
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full_disk)
        assert kit.cli(["eval", *kit.overrides(results, *data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "shards/000001.jsonl: cannot write (No space left on device); finished shards are kept" in err
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    (run,) = kit.run_dirs(results)
    assert [p.name for p in kit.shard_files(run)] == ["000000.jsonl"]
    resumed = kit.evaluate(results, *data)
    assert resumed.summary.to_json() == whole.summary.to_json()
    assert (resumed.store.path / "summary.json").read_bytes() == (whole.store.path / "summary.json").read_bytes()


def test_two_identical_evaluations_at_once_share_the_shards_and_agree(tmp_path: Path, data: tuple[Path, Path]) -> None:
    from inpaintbench import tasks

    results = tmp_path / "results"
    cfg = compose("eval", kit.overrides(results, *data))
    writes: list[int] = []
    original = RunStore.write_shard

    def counting(self: RunStore, index: int, *args, **kwargs) -> None:
        writes.append(index)
        original(self, index, *args, **kwargs)

    outcomes: list[object] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            outcomes.append(tasks.evaluate(cfg.copy()))
        except BaseException as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    RunStore.write_shard = counting
    try:
        threads = [threading.Thread(target=evaluate) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        RunStore.write_shard = original
    assert not errors and len(outcomes) == 2
    assert sorted(writes) == [0, 1, 2]  # every shard written exactly once
    first, second = outcomes
    assert first.store.path == second.store.path and first.summary.to_json() == second.summary.to_json()
    rows = list(first.store.iter_rows())
    assert [r["index"] for r in rows] == list(range(6))


def test_ctrl_c_is_one_line_exit_130_and_the_rerun_resumes(
    tmp_path: Path, data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from inpaintbench.evaluation import runner

    whole = kit.evaluate(tmp_path / "whole", *data)
    results = tmp_path / "results"
    original, calls = runner.score_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # inside shard 1 (one batch per shard), after shard 0 was written
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "score_batch", interrupted)
        assert kit.cli(["eval", *kit.overrides(results, *data)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "inpaintbench: interrupted; finished shards are kept, run the same command again to resume"
    (run,) = kit.run_dirs(results)
    assert len(kit.shard_files(run)) == 1
    assert kit.evaluate(results, *data).summary.to_json() == whole.summary.to_json()
    assert json.loads((run / "summary.json").read_text()) == whole.summary.to_json()
