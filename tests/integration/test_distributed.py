"""Evaluation over several ranks (torch.distributed through Lightning Fabric, gloo on CPU) gives
byte-identical shards, summary and leaderboard to one process; a killed rank fails the launch with one
line and the rerun resumes from every finished shard. Stand-ins as in test_evaluate (FID/KID included)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from test_evaluate import context

from inpaintbench import create_model
from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.distributed import RankFailedError, RankPlan, Ranks, evaluate_ranks, launch
from inpaintbench.evaluation.runner import InputChangedError, evaluate_context, model_key, open_run
from inpaintbench.report.leaderboard import gather, render_csv

N_IMAGES = 12  # x 2 masks = 24 samples in 5 shards of 5 (the last one 4), batches of 3
SHARD_SIZES = [5, 5, 5, 5, 4]


class Recording:
    """Delegates to an inpainter; logs every image id it inpaints to a per-rank file, and kills its own
    process (SIGKILL, no cleanup) at call `kill_at` (counted from 1) when one is given."""

    def __init__(self, inner: object, log: Path, kill_at: int | None = None) -> None:
        self.inner, self.log, self.kill_at, self.calls = inner, log, kill_at, 0

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        with open(self.log, "a") as handle:
            handle.write(f"{len(image)}\n")
        return self.inner.inpaint(image, mask)


def _model(name: str) -> object:
    torch.manual_seed(0)
    model = create_model(name)
    return model.eval() if isinstance(model, torch.nn.Module) else model


def _context(root: Path, name: str, model: object | None = None):
    ctx = context(root, model or _model(name), n=N_IMAGES)
    ctx.model_name = name
    ctx.model_key = model_key(name, {}, _model(name), None)
    return ctx


def _rank_worker(
    ranks: Ranks,
    root: str,
    name: str,
    kill_rank: int | None = None,
    kill_at: int | None = None,
    completed_cache: bool = True,
):
    """One rank of the stand-in evaluation (module level: spawned ranks import it by name)."""
    kill = kill_at if ranks.rank == kill_rank else None
    model = Recording(_model(name), Path(root) / f"calls.rank{ranks.rank}", kill)
    ctx = _context(Path(root), name, model)
    if not completed_cache:
        ctx.completed_cache = None
    outcome = evaluate_ranks(ctx, ranks, root, "standin", {"k": 1}, efficiency=False)
    return None if outcome is None else str(outcome.store.path)


def _one_process(root: Path, name: str):
    return evaluate_context(_context(root, name), root, "standin", {"k": 1}, efficiency=False)


def _tables(store_path: Path, results: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((store_path / "shards").iterdir())}
    files["summary.json"] = (store_path / "summary.json").read_bytes()
    rows, not_shown = gather(results)
    assert not_shown == []  # the one run is complete and its shards pass the checks
    files["leaderboard.csv"] = render_csv(rows).encode()
    return files


def _calls(root: Path) -> list[int]:
    return [sum(int(n) for n in p.read_text().split()) for p in sorted(root.glob("calls.rank*"))]


def _assert_ranks_equal_one_process(tmp_path: Path, name: str, world: int) -> None:
    single = _one_process(tmp_path / "one", name)
    root = tmp_path / f"ranks{world}"
    path = launch(RankPlan("cpu", world), _rank_worker, str(root), name)
    assert Path(path).relative_to(root) == single.store.path.relative_to(tmp_path / "one")  # same run hash
    assert _tables(Path(path), root) == _tables(single.store.path, tmp_path / "one")
    calls = _calls(root)  # whole shards, every sample once: rank r did shards r, r+N, ...
    assert calls == [sum(SHARD_SIZES[r::world]) for r in range(world)]
    assert single.summary.row("all").cells["fid"].value is not None  # FID/KID statistics exercised


def test_two_ranks_write_the_same_shards_summary_and_leaderboard_as_one_process(tmp_path: Path) -> None:
    _assert_ranks_equal_one_process(tmp_path, "opencv_telea", 2)


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_equal_one_process_for_a_tiny_learned_model(tmp_path: Path, world: int) -> None:
    _assert_ranks_equal_one_process(tmp_path, "lama_tiny", world)


@pytest.mark.slow
def test_three_ranks_equal_one_process_for_a_baseline(tmp_path: Path) -> None:
    _assert_ranks_equal_one_process(tmp_path, "opencv_telea", 3)


@pytest.mark.slow
def test_a_killed_rank_fails_the_launch_and_the_rerun_resumes_to_the_same_tables(tmp_path: Path) -> None:
    root = tmp_path / "killed"
    with pytest.raises(RankFailedError, match=r"rank 1 of 2 was killed by SIGKILL.*run the same command again"):
        # without the completed-image cache, so that the rerun's model calls count exactly the samples it
        # computed (with it, composites that a stopped rank made before writing its shard are reused)
        launch(RankPlan("cpu", 2), _rank_worker, str(root), "lama_tiny", 1, 3, False)  # dies in its 2nd shard
    shards = sorted(root.glob("runs/*/*/*/*/shards/*.jsonl"))
    assert "000001.jsonl" in [p.name for p in shards] and len(shards) < 5  # rank 1's first shard survived
    left = [size for k, size in enumerate(SHARD_SIZES) if f"{k:06d}.jsonl" not in [p.name for p in shards]]
    for log in root.glob("calls.rank*"):
        log.unlink()
    path = launch(RankPlan("cpu", 2), _rank_worker, str(root), "lama_tiny", None, None, False)
    assert sum(_calls(root)) == sum(left)  # finished shards were not recomputed
    single = _one_process(tmp_path / "one", "lama_tiny")
    assert _tables(Path(path), root) == _tables(single.store.path, tmp_path / "one")


def test_a_rank_whose_inputs_hash_to_another_run_is_refused_not_given_a_directory(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "opencv_telea")
    store, _ = open_run(ctx, tmp_path, "standin", {"k": 1})  # rank 0 opened this run
    assert open_run(ctx, tmp_path, "standin", {"k": 1}, join=True)[0].path == store.path
    other = _context(tmp_path, "opencv_telea")
    other.data_identity = {**other.data_identity, "size": -1}  # e.g. another copy of the data on its machine
    with pytest.raises(InputChangedError, match="rank 0 did not open"):
        open_run(other, tmp_path, "standin", {"k": 1}, join=True)
    assert list(tmp_path.glob("runs/**/run.json")) == [store.path / "run.json"]  # no stray run directory


def _failing_worker(ranks: Ranks) -> None:
    raise InpaintbenchError(f"weights.bin: not found (seen by rank {ranks.rank})")


@pytest.mark.slow
def test_a_user_error_in_the_ranks_is_one_line_per_rank_and_exit_status_2(capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        launch(RankPlan("cpu", 2), _failing_worker)
    assert stopped.value.code == 2
    err = capfd.readouterr().err
    assert "inpaintbench: error (rank 0 of 2): weights.bin: not found (seen by rank 0)" in err
    assert "Traceback" not in err
