"""Fixed mask sets: manifest content, integrity checks, the make/check functions behind the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from inpaintbench.masks import check_mask_set, check_masks, get_protocol, make_masks, ratio_bin, write_mask_set
from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.mask_sets import file_sha256

IDS = ["a.png", "sub/b.jpg", "c.png"]


def test_written_set_matches_its_manifest_and_checks_clean(tmp_path: Path) -> None:
    protocol = get_protocol({"name": "irregular", "seed": 2})
    manifest = write_mask_set(protocol, IDS, tmp_path / "set")
    assert manifest["protocol_id"] == "irregular@v1/seed2" and manifest["version"] == 1 and manifest["seed"] == 2
    assert manifest["count"] == len(IDS) * 6 == len(manifest["files"])
    assert json.loads((tmp_path / "set" / "manifest.json").read_text()) == manifest
    for entry, sample in zip(manifest["files"], protocol.samples(IDS), strict=True):
        path = tmp_path / "set" / entry["name"]
        with Image.open(path) as image:
            assert image.mode == "1" and image.size == (256, 256)
            pixels = np.asarray(image.convert("L"))  # what LaMa's and most loaders do
        assert set(np.unique(pixels)) <= {0, 255}
        assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), pixels)
        assert np.array_equal(pixels == 255, protocol.render(sample, 256, 256) == 1)
        ratio = float(np.mean(pixels == 255))
        assert entry["hole_ratio"] == ratio and entry["bin"] == ratio_bin(ratio) == entry["label"]
        assert entry["sha256"] == file_sha256(path) and entry["mask_id"] == sample.mask_id
    assert (tmp_path / "set" / "sub" / "b.20-30.0.png").is_file()
    assert check_mask_set(tmp_path / "set") == []
    assert check_mask_set(tmp_path / "set", regenerate=True) == []


def test_check_flags_tampered_missing_and_extra_files(tmp_path: Path) -> None:
    manifest = write_mask_set(get_protocol({"name": "lama_thick"}), 4, tmp_path)
    names = [entry["name"] for entry in manifest["files"]]
    assert names == [f"mask_00000{i}.thick.0.png" for i in range(4)]
    tampered = tmp_path / names[1]
    pixels = np.asarray(Image.open(tampered)).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(tampered)
    (tmp_path / names[2]).unlink()
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "stray.png")
    problems = check_mask_set(tmp_path)
    assert any(names[1] in p and "sha256" in p for p in problems)
    assert any(names[1] in p and "measured hole ratio" in p for p in problems)
    assert any(names[2] in p and "missing" in p for p in problems)
    assert any("stray.png" in p and "not listed" in p for p in problems)
    assert not any(names[0] in p or names[3] in p for p in problems)


def test_check_flags_non_binary_pngs_and_a_broken_manifest(tmp_path: Path) -> None:
    manifest = write_mask_set(get_protocol({"name": "box_center"}), 1, tmp_path)
    name = manifest["files"][0]["name"]
    Image.fromarray(np.full((256, 256), 128, np.uint8)).save(tmp_path / name)
    assert any("values other than 0 and 255" in p for p in check_mask_set(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    (problem,) = check_mask_set(tmp_path)
    assert "unreadable manifest" in problem
    assert check_mask_set(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere' / 'manifest.json'}: missing"]


def test_regenerate_catches_masks_the_code_no_longer_renders(tmp_path: Path) -> None:
    write_mask_set(get_protocol({"name": "box_random", "seed": 0}), 3, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["config"]["seed"] = 1  # as if the code now drew other boxes under the same version
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert check_mask_set(tmp_path) == []
    problems = check_mask_set(tmp_path, regenerate=True)
    assert len(problems) == 3 and all("renders a different mask" in p for p in problems)


def test_make_and_check_masks_as_the_cli_calls_them(tmp_path: Path) -> None:
    """tasks.masks_make passes `masks/<name>` and reads the manifest; tasks.masks_check wants a problem list."""
    cfg = {"name": "lama_medium", "version": 1, "seed": 0}
    out = tmp_path / "masks" / "lama_medium"
    manifest = make_masks(cfg, out, count=5)
    assert manifest["protocol_id"] == "lama_medium@v1/seed0" and len(manifest["files"]) == 5
    assert len(list(out.glob("*.png"))) == 5
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    make_masks(cfg, out, count=5)  # the same set again: deterministic, so byte-identical, manifest included
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    make_masks({"name": "box_center"}, tmp_path / "masks" / "box_center", image_ids=["x.png", "y.png"])
    assert check_masks(tmp_path / "masks") == [] and check_masks(out) == []
    (out / "mask_000003.medium.0.png").unlink()
    (problem,) = check_masks(tmp_path / "masks")
    assert problem.endswith("mask_000003.medium.0.png: missing")
    assert check_masks(tmp_path / "empty") == [f"{tmp_path / 'empty'}: no manifest.json found"]


def test_make_masks_refuses_to_delete_a_folder_that_is_not_a_mask_set(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a mask set"):
        make_masks({"name": "box_center"}, tmp_path, count=1)
    assert (tmp_path / "precious.txt").is_file()


def test_make_masks_refuses_to_replace_a_set_made_with_other_parameters(tmp_path: Path) -> None:
    """Issue 20 item 4: `masks make masks=lama_thick` silently replaced 100 masks by 64."""
    out = tmp_path / "lama_thick"
    make_masks({"name": "lama_thick"}, out, count=6)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(MaskError, match=r"different mask set \(count 6 -> 4\).*overwrite=true"):
        make_masks({"name": "lama_thick"}, out, count=4)
    with pytest.raises(MaskError, match=r"seed 0 -> 3, resolution 256 -> 512, size 256x256 -> 512x512"):
        make_masks({"name": "lama_thick", "resolution": 512, "seed": 3}, out, count=6, height=512, width=512)
    with pytest.raises(MaskError, match=r"name 'lama_thick' -> 'box_center'"):
        make_masks({"name": "box_center"}, out, count=6)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    manifest = make_masks({"name": "lama_thick"}, out, count=4, overwrite=True)
    assert manifest["count"] == 4 and sorted(p.name for p in out.glob("*.png")) == [
        f"mask_00000{i}.thick.0.png" for i in range(4)
    ]
    assert check_mask_set(out, regenerate=True) == []


def test_check_counts_and_regenerates_a_deterministic_subset(tmp_path: Path) -> None:
    manifest = write_mask_set(get_protocol({"name": "box_random", "seed": 0}), 7, tmp_path)
    manifest["config"]["seed"] = 1  # as if the code now drew other boxes under the same version
    manifest["count"] = 8
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    problems = check_mask_set(tmp_path, regenerate=3)  # files 0, 3, 6
    assert problems[0] == f"{tmp_path / 'manifest.json'}: count says 8, 7 files are listed"
    assert [p.split(":")[0] for p in problems[1:]] == [str(tmp_path / f"mask_00000{i}.box.0.png") for i in (0, 3, 6)]


def test_a_set_of_an_older_protocol_version_is_frozen_not_regenerated(tmp_path: Path) -> None:
    manifest = write_mask_set(get_protocol({"name": "box_random", "seed": 0}), 2, tmp_path)
    manifest["config"]["seed"] = 1
    manifest["config"]["version"] = 0  # written by an older generator; the code has moved on to v1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert check_mask_set(tmp_path, regenerate=True) == []
    manifest["config"]["version"] = 2  # newer than the code: cannot be vouched for
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert "cannot rebuild the protocol" in check_mask_set(tmp_path, regenerate=True)[0]
