"""Folder masks follow their image's geometry: same shorter-side resize and centre crop, nearest.

Before (issue 15) the image was resized and centre-cropped while its mask was squashed to the crop
size, so on a non-square photo the scored hole was not the hole the user drew.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintbench.data import ImageDataset
from inpaintbench.masks import get_protocol
from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.folder import MaskSizeWarning


def _folder(root: Path, **params: object):
    return get_protocol({"name": "folder", "root": str(root), "polarity": "hole_white", "threshold": 0.5, **params})


def _wide_case(tmp_path: Path) -> tuple[ImageDataset, object, np.ndarray]:
    """A 1024x300 photo with a red square painted exactly where the user's hole is."""
    width, height = 1024, 300
    photo = np.full((height, width, 3), 40, np.uint8)
    hole = np.zeros((height, width), np.uint8)
    hole[100:220, 600:720] = 255  # right of centre: inside the 256 crop only if geometry is right
    photo[hole > 0] = (255, 0, 0)
    (tmp_path / "img").mkdir()
    (tmp_path / "mask").mkdir()
    Image.fromarray(photo).save(tmp_path / "img" / "wide.png")
    Image.fromarray(hole).save(tmp_path / "mask" / "wide.png")
    return ImageDataset(root=tmp_path / "img", size=256), _folder(tmp_path / "mask"), hole


def test_a_non_square_image_scores_the_hole_the_user_drew(tmp_path: Path) -> None:
    dataset, protocol, _ = _wide_case(tmp_path)
    item = dataset[0]
    assert item["source_size"] == (300, 1024) and tuple(item["image"].shape) == (3, 256, 256)
    (sample,) = protocol.samples(["wide.png"])
    rendered = protocol.render_source(sample, item["source_size"], dataset.preprocess)
    red = (item["image"][0] > 0.9) & (item["image"][1] < 0.1)  # where the painted square landed
    hole = rendered.mask.astype(bool)
    assert hole.sum() > 5000
    # the resized hole and the resized red square agree except on a one-pixel rim (bicubic vs nearest)
    assert (hole & ~red.numpy()).sum() <= 4 * 120 and (red.numpy() & ~hole).sum() <= 4 * 120
    with pytest.raises(MaskError, match="another aspect ratio"):  # squashing it to the crop is refused
        protocol.render(sample, 256, 256)


def test_the_mask_geometry_is_the_image_geometry_with_nearest(tmp_path: Path) -> None:
    dataset, protocol, hole = _wide_case(tmp_path)
    (sample,) = protocol.samples(["wide.png"])
    rendered = protocol.render_source(sample, (300, 1024), dataset.preprocess)
    # shorter side 300 -> 256: 1024 -> 874 wide; centre crop starts at (874 - 256) // 2 = 309
    expected = np.asarray(Image.fromarray(hole // 255).resize((874, 256), Image.Resampling.NEAREST))[:, 309:565]
    np.testing.assert_array_equal(rendered.mask, expected)
    assert set(np.unique(rendered.mask)) <= {0, 1}
    assert len(rendered.sha256) == 64


def test_a_proportional_mask_is_scaled_with_a_warning_and_another_aspect_is_refused(tmp_path: Path) -> None:
    dataset, protocol, hole = _wide_case(tmp_path)
    (sample,) = protocol.samples(["wide.png"])
    Image.fromarray(hole[::2, ::2]).save(tmp_path / "mask" / "wide.png")  # 512x150: same aspect
    with pytest.warns(MaskSizeWarning, match="512x150 but its image is 1024x300"):
        half = protocol.render_source(sample, (300, 1024), dataset.preprocess)
    assert abs(int(half.mask.sum()) - int(protocol_full_hole(tmp_path, hole).sum())) < 600
    with pytest.raises(MaskError, match="strict: true"):
        _folder(tmp_path / "mask", strict=True).render_source(sample, (300, 1024), dataset.preprocess)
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "mask" / "wide.png")
    with pytest.raises(MaskError, match="another aspect ratio"):
        protocol.render_source(sample, (300, 1024), dataset.preprocess)


def protocol_full_hole(tmp_path: Path, hole: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(hole // 255).resize((874, 256), Image.Resampling.NEAREST))[:, 309:565]


def test_a_mask_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    Image.new("1", (9000, 5000)).save(tmp_path / "m" / "a.png")  # 45 MP of zeros: a few kB of PNG
    assert (tmp_path / "m" / "a.png").stat().st_size < 100_000
    protocol = _folder(tmp_path / "m")
    (sample,) = protocol.samples(["a.png"])
    with pytest.raises(
        MaskError, match=r"a\.png.*9000x5000 = 45000000 pixels exceeds the pixel budget data\.max_pixels=40000000"
    ):
        protocol.render_source(sample, (5000, 9000), ImageDataset(root=tmp_path / "m").preprocess)
