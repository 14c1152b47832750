"""Results store: atomic shards, commit marker, run hash check, content-addressed cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inpaintbench.results import ArrayCache, RunKey, RunMismatchError, RunStore, find_runs, slug, stable_hash


def _key(**inputs: object) -> RunKey:
    return RunKey("opencv_telea", "irregular@v1/seed0", "sample", {"model_key": "m", **inputs})


def test_run_directory_is_deterministic_and_records_provenance(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, _key(), {"batch_size": 8}, {"weights_sha256": None})
    again = RunStore.open(tmp_path, _key(), {"batch_size": 8})
    assert store.path == again.path == tmp_path / "runs/opencv_telea/irregular_v1_seed0/sample" / _key().run_hash[:12]
    assert store.record()["inputs"] == {"model_key": "m"} and store.record()["config"] == {"batch_size": 8}
    assert RunStore.open(tmp_path, _key(extra=1), {}).path != store.path
    assert [r.path for r in find_runs(tmp_path)] == sorted([store.path, RunStore.for_key(tmp_path, _key(extra=1))])


def test_stable_hash_ignores_key_order() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1}) != stable_hash({"a": 2})
    assert slug("irregular@v1/seed0") == "irregular_v1_seed0"


def test_a_shard_exists_only_once_its_rows_file_is_written(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, _key(), {})
    rows = [{"index": 0, "psnr": None, "l1_hole": 0.2}, {"index": 1, "psnr": 20.0, "l1_hole": 0.1}]
    feats = {"inception_real": np.arange(8, dtype=np.float32).reshape(2, 4)}
    (store.shard_dir / "000001.inception_real.npy").write_bytes(b"half-written features of a crashed shard")
    (store.shard_dir / ".000002.jsonl.123.tmp").write_text("partial")
    assert store.done_shards() == []
    store.write_shard(0, rows, feats)
    assert store.done_shards() == [0]
    back = store.read_rows(0)
    assert back == rows
    np.testing.assert_array_equal(store.read_features(0, "inception_real"), feats["inception_real"])
    picked = store.feature_rows("inception_real", [(0, 1), (0, 0)])[np.array([0, 1])]
    np.testing.assert_array_equal(picked, feats["inception_real"][[1, 0]])
    with pytest.raises(ValueError, match="has 2 rows for 1 samples"):
        store.write_shard(3, rows[:1], feats)
    with pytest.raises(ValueError, match="Out of range float"):  # no NaN or infinity ever reaches a shard
        store.write_shard(4, [{"index": 0, "psnr": float("inf")}], {})
    assert store.done_shards() == [0] and not list(store.shard_dir.glob(".000004*"))


def test_reopening_with_a_different_recorded_hash_is_refused(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, _key(), {})
    text = (store.path / "run.json").read_text().replace(_key().run_hash, "f" * 64)
    (store.path / "run.json").write_text(text)
    with pytest.raises(RunMismatchError, match=r"run\.json: recorded run hash ffffffffffff"):
        RunStore.open(tmp_path, _key(), {})


def test_array_cache_round_trips_and_recomputes_unreadable_entries(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    key = stable_hash("image-bytes")
    assert cache.get(key) is None
    cache.put(key, np.array([1.5, 2.5]))
    np.testing.assert_array_equal(cache.get(key), [1.5, 2.5])
    (tmp_path / key[:2] / f"{key}.npy").write_bytes(b"garbage")
    assert cache.get(key) is None
