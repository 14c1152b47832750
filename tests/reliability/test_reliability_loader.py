"""Loading ahead in worker processes (`num_workers`, evaluation/loader.py) changes no byte of a run.

Shards, run directory and table equal the serial path's; an error still surfaces as its one line
(an input edited during the run: test_reliability_identity.py, with and without a worker).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import reliability_kit as kit
import torch

from inpaintbench.evaluation.loader import loaded_batches


@pytest.fixture(autouse=True)
def _no_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


def _shard_bytes(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in kit.shard_files(run)}


def test_workers_write_the_serial_paths_shards_byte_for_byte(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=5)  # 3 shards of 2 samples, the last one short
    serial = kit.evaluate(tmp_path / "serial", images, masks, "num_workers=0", "batch_size=1")
    loaded = kit.evaluate(tmp_path / "workers", images, masks, "num_workers=2", "batch_size=1")
    assert loaded.store.path.relative_to(tmp_path / "workers") == serial.store.path.relative_to(tmp_path / "serial")
    assert len(_shard_bytes(serial.store.path)) == 3
    assert _shard_bytes(loaded.store.path) == _shard_bytes(serial.store.path)
    assert loaded.summary.to_json() == serial.summary.to_json()


def test_a_bad_worker_count_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=1)
    assert kit.cli(["eval", *kit.overrides(tmp_path / "results", images, masks, "num_workers=-1")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "num_workers=-1" in err
    assert not (tmp_path / "results").exists() or not kit.run_dirs(tmp_path / "results")


def _square_or_fail(i: int) -> int:
    if i == 5:
        raise ValueError("item 5 is unreadable")
    return i * i


@pytest.mark.parametrize("workers", [0, 2])
def test_loaded_batches_keep_order_and_raise_the_loaders_own_error(workers: int) -> None:
    batches = loaded_batches(_square_or_fail, 5, 2, workers)
    assert list(batches) == [[0, 1], [4, 9], [16]]
    failing = loaded_batches(_square_or_fail, 7, 3, workers)
    assert next(failing) == [0, 1, 4]
    with pytest.raises(ValueError, match=r"^item 5 is unreadable$"):
        next(failing)
