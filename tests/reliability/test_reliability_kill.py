"""kill -9 and Ctrl-C (SIGINT) of a real `inpaintbench eval` process at two points, then resume.

The child runs the CLI through `slow_driver.py`, which sleeps before each shard, so the signal lands
between known shards. The resumed run's summary.json and the leaderboard (CSV and Markdown, with
SOURCE_DATE_EPOCH fixing the date line) must be byte-identical to an uninterrupted run's.
One kill -9 case runs by default; the others are marked slow (`make test-slow`).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import reliability_kit as kit
import torch
from PIL import Image

N_SHARDS = 3  # 6 images x 1 mask, 2 samples per shard


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same empty torch hub and report date in this process as in the children."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_home" / "hub"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", kit.subprocess_env(tmp_path)["SOURCE_DATE_EPOCH"])
    return tmp_path


def _interrupt(
    tmp: Path, args: list[str], results: Path, after: int, sig: signal.Signals
) -> subprocess.CompletedProcess:
    """Start the eval, wait until `after` shards exist, send `sig`, return the finished child."""
    child = kit.start_eval(tmp, args, delay=2.0)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = kit.run_dirs(results)
        if runs and len(kit.shard_files(runs[0])) >= after:
            break
        if child.poll() is not None:
            pytest.fail(f"eval ended before shard {after}: {child.communicate()}")
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail("timed out waiting for the first shards")
    child.send_signal(sig)
    out, err = child.communicate(timeout=120)
    (run,) = kit.run_dirs(results)
    assert len(kit.shard_files(run)) == after  # killed between shards, nothing half-written counts
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def _table(results: Path) -> dict[str, bytes]:
    csv_path, md_path = kit.report(results)
    (run,) = kit.run_dirs(results)
    return {"summary": (run / "summary.json").read_bytes(), "csv": csv_path.read_bytes(), "md": md_path.read_bytes()}


def _check(env: Path, after: int, sig: signal.Signals, resume_in_child: bool) -> None:
    images, masks = kit.make_dataset(env / "data")
    kit.evaluate(env / "whole", images, masks)
    expected = _table(env / "whole")
    results = env / "results"
    args = kit.overrides(results, images, masks)
    child = _interrupt(env, args, results, after, sig)
    if sig == signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL
    else:
        assert child.returncode == 130
        assert child.stderr.strip().splitlines()[-1] == (
            "inpaintbench: interrupted; finished shards are kept, run the same command again to resume"
        )
    if resume_in_child:
        command = [*kit.start_eval_command(0.0), "eval", *args]
        resumed = subprocess.run(command, env=kit.subprocess_env(env), cwd=env, capture_output=True)
        assert resumed.returncode == 0, resumed.stderr
    else:  # the same command in this process (saves a second interpreter start in the default suite)
        kit.evaluate(results, images, masks)
    assert _table(results) == expected


def test_kill_9_after_the_first_shard_then_resume_gives_byte_identical_tables(env: Path) -> None:
    _check(env, 1, signal.SIGKILL, resume_in_child=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after", "sig"), [(2, signal.SIGKILL), (1, signal.SIGINT), (2, signal.SIGINT)], ids=["kill9@2", "int@1", "int@2"]
)
def test_interrupt_at_two_points_then_resume_gives_byte_identical_tables(
    env: Path, after: int, sig: signal.Signals
) -> None:
    _check(env, after, sig, resume_in_child=True)


@pytest.mark.slow
@pytest.mark.parametrize("changed", ["image", "mask"])
def test_an_input_changed_between_kill_and_resume_is_refused_then_recomputed_never_mixed(
    env: Path, changed: str
) -> None:
    images, masks = kit.make_dataset(env / "data")
    results = env / "results"
    args = kit.overrides(results, images, masks)
    _interrupt(env, args, results, 1, signal.SIGKILL)
    (interrupted,) = kit.run_dirs(results)
    if changed == "image":
        target = images / "img04.png"
        Image.fromarray(kit.smooth_image(42)).save(target)
    else:
        target = masks / "img04.png"
        Image.fromarray(kit.box_mask(3)).save(target)
    command = [*kit.start_eval_command(0.0), "eval", *args]
    refused = subprocess.run(command, env=kit.subprocess_env(env), cwd=env, capture_output=True, text=True)
    assert refused.returncode == 2
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and str(target) in line and "changed since the interrupted run" in line
    recomputed = subprocess.run(
        [*command, "changed_inputs=recompute"], env=kit.subprocess_env(env), cwd=env, capture_output=True, text=True
    )
    assert recomputed.returncode == 0, recomputed.stderr
    runs = kit.run_dirs(results)
    assert len(runs) == 2 and interrupted in runs and len(kit.shard_files(interrupted)) == 1
    fresh = kit.evaluate(env / "fresh", images, masks)
    (new,) = [r for r in runs if r != interrupted]
    assert (new / "summary.json").read_bytes() == (fresh.store.path / "summary.json").read_bytes()


@pytest.mark.slow
def test_two_identical_evaluation_processes_at_once_agree_with_no_duplicated_rows(env: Path) -> None:
    images, masks = kit.make_dataset(env / "data")
    expected = kit.evaluate(env / "whole", images, masks)
    results = env / "results"
    args = kit.overrides(results, images, masks)
    children = [kit.start_eval(env, args, delay=1.0) for _ in range(2)]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    (run,) = kit.run_dirs(results)
    rows = [line for shard in kit.shard_files(run) for line in shard.read_text().splitlines()]
    assert len(rows) == 6 and len(set(rows)) == 6
    assert (run / "summary.json").read_bytes() == (expected.store.path / "summary.json").read_bytes()
