"""Published mask sets: the pairing rule of `masks=published`, the export layouts, and the CI check."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintbench.masks import get_protocol, hole_ratio, ratio_bin, write_mask_set
from inpaintbench.masks import published as published_module
from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.export import export_set
from inpaintbench.masks.mask_sets import load_mask_png
from inpaintbench.masks.published import SetSpec, check_published, publish

BUCKETS = ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small sets at 64x64: irregular (3 groups of 6) and lama_thick (4 groups of 1)."""
    root = tmp_path_factory.mktemp("published")
    ids3 = [f"mask_{g:06d}" for g in range(3)]
    write_mask_set(get_protocol({"name": "irregular"}), ids3, root / "irr", height=64, width=64)
    write_mask_set(
        get_protocol({"name": "box_random", "size": 32, "max_delta": 8}), 4, root / "box", height=64, width=64
    )
    return root


def _published(root: Path, name: str):
    return get_protocol({"name": "published", "set": name, "root": str(root)})


def _files_of_group(root: Path, name: str, group: int) -> list[str]:
    manifest = json.loads((root / name / "manifest.json").read_text())
    return [e["name"] for e in manifest["files"] if e["image_id"] == f"mask_{group:06d}"]


def test_image_of_sorted_rank_k_gets_group_k_mod_g(sets: Path) -> None:
    protocol = _published(sets, "irr")
    ids = ["d.png", "b.png", "sub/a.png", "c.png"]  # sorted: b, c, d, sub/a -> ranks 0..3
    samples = protocol.samples(ids)
    assert [s.image_id for s in samples] == [i for i in ids for _ in range(6)]  # the caller's order kept
    pairs = {(s.image_id, s.mask_id.rsplit("#", 1)[1]) for s in samples}
    expected = {"b.png": 0, "c.png": 1, "d.png": 2, "sub/a.png": 0}  # rank 3 wraps to group 0 of 3
    assert pairs == {(i, f) for i, g in expected.items() for f in _files_of_group(sets, "irr", g)}
    assert [s.label for s in samples[:6]] == BUCKETS
    for sample in samples:
        mask = protocol.render(sample, 64, 64)
        assert np.array_equal(mask, load_mask_png(sets / "irr" / sample.mask_id.rsplit("#", 1)[1]))
        assert ratio_bin(hole_ratio(mask)) == sample.label
    # same ids in any order, or a sorted prefix (limit=N), keep their pairs
    shuffled = {(s.image_id, s.mask_id) for s in protocol.samples(list(reversed(ids)))}
    assert shuffled == {(s.image_id, s.mask_id) for s in samples}
    prefix = {(s.image_id, s.mask_id) for s in protocol.samples(["b.png", "c.png"])}
    assert prefix <= {(s.image_id, s.mask_id) for s in samples}


def test_protocol_id_names_the_set_and_its_content(sets: Path, tmp_path: Path) -> None:
    protocol = _published(sets, "irr")
    sha = published_module.file_sha256(sets / "irr" / "manifest.json")
    assert protocol.protocol_id == f"published@v1/irr/m{sha[:8]}"
    assert _published(sets, "box").protocol_id != protocol.protocol_id.replace("irr", "box")


def test_a_tampered_or_unknown_set_and_a_wrong_size_are_one_line_errors(sets: Path, tmp_path: Path) -> None:
    with pytest.raises(MaskError, match=r"no published mask set 'ir' .*did you mean 'irr'"):
        _published(sets, "ir")
    copy = tmp_path / "irr"
    copy.mkdir()
    for path in (sets / "irr").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    first = sorted(copy.glob("*.png"))[0]
    Image.fromarray(np.ones((64, 64), bool)).save(first)
    with pytest.raises(MaskError, match=rf"fails its check .*{first.name}"):
        _published(tmp_path, "irr")
    protocol = _published(sets, "irr")
    with pytest.raises(MaskError, match=r"holds 64x64 masks, image 'x\.png' is 80x64; evaluate at data\.size=64"):
        protocol.render(protocol.samples(["x.png"])[0], 64, 80)


def _grey(path: Path) -> np.ndarray:
    """How the consumers read a mask: PIL -> L (LaMa's load_image, PConv loaders), values 0..255."""
    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image.convert("L"))


def test_nvidia_layout_numbers_masks_bucket_major_with_white_holes(sets: Path, tmp_path: Path) -> None:
    rows = export_set(_published(sets, "irr"), "nvidia", tmp_path / "nv")
    files = sorted(p.name for p in (tmp_path / "nv").glob("*.png"))
    assert files == [f"{i:05d}.png" for i in range(18)] == [r["file"] for r in rows]
    for i, name in enumerate(files):
        grey = _grey(tmp_path / "nv" / name)
        assert set(np.unique(grey)) <= {0, 255}
        assert ratio_bin(float(np.mean(grey == 255))) == BUCKETS[i // 3]  # 3 per bucket, increasing
        assert np.array_equal(grey == 255, load_mask_png(sets / "irr" / rows[i]["set_file"]) == 1)
    with pytest.raises(MaskError, match="only takes bucketed sets"):
        export_set(_published(sets, "box"), "nvidia", tmp_path / "nv2")


def _images(folder: Path, names: list[str], size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return folder


def test_lama_layout_is_what_lamas_evaluator_pairs(sets: Path, tmp_path: Path) -> None:
    """Re-enacts saicinpainting/evaluation/data.py InpaintingDataset on the exported folder."""
    images = _images(tmp_path / "img", ["b.png", "a.jpg", "sub/c.png"])
    ids = ["a.jpg", "b.png", "sub/c.png"]
    protocol = _published(sets, "irr")
    out = tmp_path / "lama"
    export_set(protocol, "lama", out, image_ids=ids, images_root=images)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png") if "_mask" not in p.name) == [
        "a.png",
        "b.png",
        "sub/c.png",
    ]
    img_suffix = ".png"
    mask_files = sorted(glob.glob(os.path.join(str(out), "**", "*mask*" + img_suffix), recursive=True))
    assert len(mask_files) == 3 * 6
    assert Path(mask_files[0]).name == "a_mask000.png" and Path(mask_files[5]).name == "a_mask005.png"
    expected = {(s.image_id, s.mask_id.rsplit("#", 1)[1]) for s in protocol.samples(ids)}
    found = set()
    for mask_file in mask_files:
        image_file = mask_file.rsplit("_mask", 1)[0] + img_suffix
        assert os.path.isfile(image_file)
        hole = _grey(Path(mask_file)) > 0  # LaMa: load_image(mode='L') / 255, then (mask > 0)
        image_id = next(
            i for i in ids if Path(i).with_suffix(".png").as_posix() == Path(image_file).relative_to(out).as_posix()
        )
        match = [f for i, f in expected if i == image_id and np.array_equal(load_mask_png(sets / "irr" / f) == 1, hole)]
        assert match, mask_file
        found.add((image_id, match[0]))
    assert found == expected
    # the JPEG was re-encoded losslessly from its decoded pixels; the PNG copied byte for byte
    assert (out / "b.png").read_bytes() == (images / "b.png").read_bytes()
    assert np.array_equal(
        np.asarray(Image.open(out / "a.png")), np.asarray(Image.open(images / "a.jpg").convert("RGB"))
    )
    with pytest.raises(MaskError, match="pass --images"):
        export_set(protocol, "lama", tmp_path / "lama2")
    _images(tmp_path / "bad", ["mask_01.png"])
    with pytest.raises(MaskError, match="LaMa takes every file named \\*mask\\*"):
        export_set(protocol, "lama", tmp_path / "lama3", image_ids=["mask_01.png"], images_root=tmp_path / "bad")
    _images(tmp_path / "big", ["x.png"], size=80)
    with pytest.raises(MaskError, match=r"x\.png: image is 80x80, the set's masks are 64x64"):
        export_set(protocol, "lama", tmp_path / "lama4", image_ids=["x.png"], images_root=tmp_path / "big")
    with pytest.raises(MaskError, match="not empty"):
        export_set(protocol, "lama", out, image_ids=ids, images_root=images)


def test_folder_layout_round_trips_through_the_folder_protocol(sets: Path, tmp_path: Path) -> None:
    ids = ["a.png", "b.png", "sub/c.png", "d.png", "e.png"]
    published = _published(sets, "box")
    export_set(published, "folder", tmp_path / "named", image_ids=ids)
    folder = get_protocol(
        {"name": "folder", "root": str(tmp_path / "named"), "polarity": "hole_white", "threshold": 0.5}
    )
    by_image = {s.image_id: s for s in published.samples(ids)}
    for sample in folder.samples(ids):
        assert np.array_equal(folder.render(sample, 64, 64), published.render(by_image[sample.image_id], 64, 64))
    # several masks per image: one sub-folder per bucket, each a folder the folder protocol can read
    export_set(_published(sets, "irr"), "folder", tmp_path / "buckets", image_ids=ids)
    assert sorted(p.name for p in (tmp_path / "buckets").iterdir() if p.is_dir()) == BUCKETS
    assert sorted(
        p.relative_to(tmp_path / "buckets" / "20-30").as_posix()
        for p in (tmp_path / "buckets" / "20-30").rglob("*.png")
    ) == [
        "a.png",
        "b.png",
        "d.png",
        "e.png",
        "sub/c.png",
    ]
    # without images: the set's own names, as 8-bit white-hole PNGs
    rows = export_set(published, "folder", tmp_path / "plain")
    assert [r["file"] for r in rows] == [f"mask_00000{i}.box.0.png" for i in range(4)]
    for row in rows:
        assert np.array_equal(
            _grey(tmp_path / "plain" / row["file"]) == 255, load_mask_png(sets / "box" / row["file"]) == 1
        )
    assert (tmp_path / "plain" / "pairs.csv").read_text().splitlines()[0] == "file,set_file,label,image_id"


def test_check_published_wants_every_standard_set_made_to_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = {
        spec.name: spec
        for spec in (SetSpec("box_random", 64, 3, {"size": 32, "max_delta": 8}), SetSpec("lama_thin", 64, 2))
    }
    monkeypatch.setattr(published_module, "STANDARD_SETS", specs)
    assert publish(tmp_path) == [tmp_path / "box_random-v1-64", tmp_path / "lama_thin-v1-64"]
    assert publish(tmp_path) == []  # never rewritten
    assert check_published(tmp_path, regenerate=True) == []
    # a generator that now draws other masks under the same version fails the check
    original = published_module.PROTOCOLS.get("box_random").render
    monkeypatch.setattr(
        published_module.PROTOCOLS.get("box_random"), "render", lambda self, s, h, w: 1 - original(self, s, h, w)
    )
    problems = check_published(tmp_path, regenerate=True)
    assert len(problems) == 3 and all(
        "renders a different mask now; bump the protocol's version" in p for p in problems
    )
    monkeypatch.setattr(published_module.PROTOCOLS.get("box_random"), "render", original)
    # after a version bump the old set stays, frozen, and the new version's set is asked for
    monkeypatch.setattr(published_module.PROTOCOLS.get("box_random"), "version", 2)
    monkeypatch.setattr(published_module, "STANDARD_SETS", {spec.name: spec for spec in specs.values()})  # re-import
    problems = check_published(tmp_path, regenerate=True)
    assert problems == [
        f"{tmp_path / 'box_random-v2-64'}: standard set missing; write it with `inpaintbench masks publish`"
    ]
    (tmp_path / "box_random-v1-64" / "manifest.json").rename(tmp_path / "gone.json")
    assert check_published(tmp_path, regenerate=False)[0] == (
        f"{tmp_path / 'box_random-v1-64'}: published set removed; published sets stay when a version is bumped"
    )
    (tmp_path / "gone.json").rename(tmp_path / "box_random-v1-64" / "manifest.json")
    # a set edited to other parameters is not the standard set
    manifest = json.loads((tmp_path / "lama_thin-v1-64" / "manifest.json").read_text())
    manifest["height"] = 32
    (tmp_path / "lama_thin-v1-64" / "manifest.json").write_text(json.dumps(manifest))
    assert any("height differs from the standard set's spec" in p for p in check_published(tmp_path, regenerate=False))
