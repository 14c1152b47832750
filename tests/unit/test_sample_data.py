"""The committed sample set matches its manifest, keeps its splits apart, and rebuilds exactly."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from inpaintbench.config import register_resolvers
from inpaintbench.data import build_dataset
from tools.build_sample import (
    SKIMAGE,
    SOURCES,
    SampleBuildError,
    check,
    crops_of,
    encode_png,
    load_manifest,
    pixels_sha256,
    read_source,
    skimage_root,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest(SAMPLE)


def test_files_match_the_manifest() -> None:
    assert check(SAMPLE) == []


def test_manifest_hashes_are_those_of_the_files(manifest: dict) -> None:
    record = manifest["crops"][0]
    data = (SAMPLE / record["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    with Image.open(SAMPLE / record["file"]) as image:
        assert pixels_sha256(np.asarray(image)) == record["pixels_sha256"]


def test_splits_sizes_and_disjoint_sources(manifest: dict) -> None:
    crops = manifest["crops"]
    by_split = Counter(record["split"] for record in crops)
    assert by_split["eval"] >= 64 and by_split["train"] >= 64
    on_disk = {p.relative_to(SAMPLE).as_posix() for p in SAMPLE.glob("*/*.png")}
    assert on_disk == {record["file"] for record in crops}
    eval_sources = {r["source"]["key"] for r in crops if r["split"] == "eval"}
    train_sources = {r["source"]["key"] for r in crops if r["split"] == "train"}
    assert eval_sources.isdisjoint(train_sources)
    # Varied: no source photo supplies more than an eighth of the eval split.
    per_source = Counter(r["source"]["key"] for r in crops if r["split"] == "eval")
    assert len(per_source) >= 8 and max(per_source.values()) <= by_split["eval"] / 8
    for record in crops:
        assert record["licence"] and record["credit"] and record["source"]["version"]
        left, top, right, bottom = record["box"]
        assert right - left == 256 and bottom - top == 256
        assert min(left, top) >= 0 and right <= record["frame"][0] and bottom <= record["frame"][1]


def test_committed_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 13 * 2**20


def test_check_reports_a_changed_and_an_unlisted_file(tmp_path: Path, manifest: dict) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy)
    victim = copy / manifest["crops"][3]["file"]
    pixels = np.asarray(Image.open(victim)).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(victim)
    Image.fromarray(pixels).save(copy / "eval" / "stray.png")
    problems = check(copy)
    assert any(victim.name in p and "sha256 differs" in p for p in problems)
    assert any(victim.name in p and "pixel sha256 differs" in p for p in problems)
    assert any("stray.png: not listed" in p for p in problems)


def _skimage_sources_present() -> bool:
    root = skimage_root()
    sources = [s for s in SOURCES if s.package == SKIMAGE]
    return all(
        (root / s.file).is_file() and hashlib.sha256((root / s.file).read_bytes()).hexdigest() == s.sha256
        for s in sources
    )


@pytest.mark.skipif(not _skimage_sources_present(), reason="scikit-image 0.26.0 data files not installed")
def test_skimage_crops_rebuild_exactly(manifest: dict) -> None:
    records = {r["file"]: r for r in manifest["crops"]}
    same_pillow = manifest["built_with"]["pillow"] == Image.__version__
    roots = {SKIMAGE: skimage_root()}
    rebuilt = 0
    for source in SOURCES:
        if source.package != SKIMAGE:
            continue
        for crop in crops_of(source, read_source(source, roots)):
            record = records[crop.file]
            assert pixels_sha256(crop.pixels) == record["pixels_sha256"], crop.file
            assert list(crop.box) == record["box"] and list(crop.frame) == record["frame"]
            if same_pillow:
                assert hashlib.sha256(encode_png(crop.pixels)).hexdigest() == record["sha256"], crop.file
            rebuilt += 1
    assert rebuilt == sum(r["source"]["package"] == SKIMAGE for r in manifest["crops"])


def test_missing_sources_fail_clearly(tmp_path: Path) -> None:
    wallpaper = next(s for s in SOURCES if s.package != SKIMAGE)
    with pytest.raises(SampleBuildError, match=r"is missing \(from plasma-workspace-wallpapers 4:5\.27\.5-2\)"):
        read_source(wallpaper, {wallpaper.package: tmp_path})


def compose_data(name: str) -> DictConfig:
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(overrides=["+paths=default", f"+data={name}"])


def test_sample_configs_point_at_the_splits(manifest: dict) -> None:
    for name, split in (("sample", "eval"), ("sample_train", "train")):
        cfg = compose_data(name)
        assert Path(cfg.data.root) == SAMPLE / split
        dataset = build_dataset(cfg.data)
        expected = sorted(Path(r["file"]).name for r in manifest["crops"] if r["split"] == split)
        assert cfg.data.name == name and dataset.ids == expected
    first = dataset[0]  # crops are already 256x256: the pipeline must not resample them
    pixels = np.asarray(Image.open(SAMPLE / "train" / first["id"]))
    assert torch.equal(first["image"], torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255.0)
