"""The I/O floor: atomic writes leave no debris, hash prefixes, the CSV rendering, container detection."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from inpaintbench.io.atomic import atomic_path, atomic_write, atomic_write_bytes
from inpaintbench.io.containers import container_format, is_safetensors_file, read_safetensors
from inpaintbench.io.csvtext import csv_text
from inpaintbench.io.errors import WeightsError
from inpaintbench.io.hashing import check_sha256, matches_sha256, sha256_file, sha256_files


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_write_failure_keeps_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")

    def half_then_fail(handle: io.BufferedWriter) -> None:
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_for_writers_that_want_a_file_name(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        save_file({"x": torch.arange(3.0)}, str(tmp))
        assert not target.exists()  # invisible until complete
    assert torch.equal(read_safetensors(target)["x"], torch.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_sha256_and_prefix_checks(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"abc")
    b.write_bytes(b"def")
    assert sha256_file(a) == hashlib.sha256(b"abc").hexdigest()
    assert sha256_files([a, b]) == hashlib.sha256(b"abcdef").hexdigest()
    digest = sha256_file(a)
    assert matches_sha256(digest, digest[:8].upper())  # published prefixes, any case
    assert not matches_sha256(digest, "")  # an empty expectation never passes
    assert check_sha256(a, digest, digest[:10]) == digest
    with pytest.raises(WeightsError, match=r"^.*a: sha256 [0-9a-f]{16}\.\.\. does not match the expected 00ff$"):
        check_sha256(a, digest, "00ff")
    with pytest.raises(WeightsError, match="does not start with the published 00ff"):
        check_sha256(a, digest, "00ff", published=True)


def test_csv_text_floats_round_trip_and_none_is_empty() -> None:
    rows = [{"a": 0.1 + 0.2, "b": None, "c": "x,y"}, {"a": 1e-17, "c": 3}]
    text = csv_text(rows, ["a", "b", "c"])
    assert text.endswith("\n") and "\r" not in text
    back = list(csv.DictReader(io.StringIO(text)))
    assert float(back[0]["a"]) == 0.1 + 0.2 and float(back[1]["a"]) == 1e-17
    assert back[0]["b"] == "" and back[1]["b"] == ""
    assert back[0]["c"] == "x,y" and back[1]["c"] == "3"


def test_container_detection_from_bytes_not_names(tmp_path: Path) -> None:
    named_wrong = tmp_path / "weights.pth"
    save_file({"x": torch.zeros(2)}, str(named_wrong))
    assert is_safetensors_file(named_wrong)
    zipped, legacy = tmp_path / "z.bin", tmp_path / "l.bin"
    torch.save({"x": torch.zeros(2)}, zipped)
    torch.save({"x": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert not is_safetensors_file(zipped) and not is_safetensors_file(legacy)
    assert container_format(zipped) == "zip" and container_format(legacy) == "legacy"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello world, not weights")
    with pytest.raises(WeightsError, match=r"junk\.safetensors: not a torch pickle"):
        container_format(junk)
    with pytest.raises(WeightsError, match=r"junk\.safetensors: not a readable safetensors file"):
        read_safetensors(junk)
