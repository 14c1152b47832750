"""Training generators and the LaMa / DeepFill generator semantics (reference/lama.md, deepfill_v1.md)."""

from __future__ import annotations

import numpy as np
import pytest

from inpaintbench.masks import (
    TRAIN_MASKS,
    box_center,
    deepfill_bbox_and_mask,
    get_protocol,
    hole_ratio,
    lama_box_mask,
    lama_irregular_mask,
    make_train_mask,
    ratio_bin,
    strokes_to_ratio,
)
from inpaintbench.masks.lama import LAMA_TRAIN_BOX


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", ["irregular_strokes", "lama_mixed", "box_random", "box_center"])
def test_training_generators_follow_the_contract(name: str) -> None:
    """(H, W) uint8 {0, 1} on a non-square canvas, reproducible from the generator's seed."""
    assert name in TRAIN_MASKS
    for seed in range(5):
        mask = make_train_mask(name, rng(seed), 192, 256)
        assert mask.shape == (192, 256) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        assert np.array_equal(mask, make_train_mask(name, rng(seed), 192, 256))


def test_training_generator_rejects_an_unknown_parameter_in_one_line() -> None:
    with pytest.raises(TypeError, match=r"'lama_mixed'.*brush"):
        make_train_mask("lama_mixed", rng(), 256, 256, brush=3)
    with pytest.raises(TypeError, match=r"'box_random'.*brush"):
        make_train_mask("box_random", rng(), 256, 256, brush=3)


def test_wrappers_pass_their_parameters_through() -> None:
    """box_random is deepfill_bbox_and_mask's mask; lama_mixed forwards the mixture probabilities."""
    for seed in range(3):
        params = {"size": 64, "margin": 8, "max_delta": 16}
        expected = deepfill_bbox_and_mask(rng(seed), 256, 256, **params)[1]
        assert np.array_equal(make_train_mask("box_random", rng(seed), 256, 256, **params), expected)
        stream = rng(seed)
        stream.random()  # the mixture's choice of generator
        expected = lama_box_mask(stream, 256, 256, **LAMA_TRAIN_BOX)
        assert np.array_equal(make_train_mask("lama_mixed", rng(seed), 256, 256, irregular_proba=0.0), expected)


def test_lama_mixed_training_statistics_match_the_reference() -> None:
    """reference/lama.md: the 256 training mixture has mean area 0.352 and 23.5 % of masks over 50 %."""
    ratios = np.array([hole_ratio(make_train_mask("lama_mixed", rng(seed), 256, 256)) for seed in range(400)])
    assert abs(ratios.mean() - 0.352) < 0.03
    assert abs((ratios > 0.5).mean() - 0.235) < 0.06


def test_irregular_strokes_cover_every_bucket_up_to_60_percent() -> None:
    ratios = [hole_ratio(make_train_mask("irregular_strokes", rng(seed), 256, 256)) for seed in range(240)]
    assert min(ratios) >= 0.01 and max(ratios) < 0.75
    shares = {
        b: sum(ratio_bin(r) == b for r in ratios) / len(ratios)
        for b in ("0-10", "10-20", "20-30", "30-40", "40-50", "50-60")
    }
    assert all(share > 0.08 for share in shares.values()), shares


def test_strokes_reach_their_target_and_respect_the_border() -> None:
    for seed, target in enumerate((0.05, 0.23, 0.47)):
        mask = strokes_to_ratio(rng(seed), 256, 256, target, border=12)
        assert hole_ratio(mask) >= target
        assert not mask[:12].any() and not mask[-12:].any() and not mask[:, :12].any() and not mask[:, -12:].any()
    assert not strokes_to_ratio(rng(), 64, 64, 0.0).any()


def test_lama_irregular_stroke_count_has_the_official_plus_one() -> None:
    """min_times = max_times = 0 still draws 0 or 1 strokes (uniform in [min, max + 1])."""
    empty = [not lama_irregular_mask(rng(s), 128, 128, min_times=0, max_times=0).any() for s in range(200)]
    assert 0.35 < np.mean(empty) < 0.65


def test_lama_irregular_geometry_follows_the_official_arithmetic() -> None:
    """One stroke, max_angle 1, max_len 1, max_width 1: every segment has angle 2*3.1415926 - 0.01
    (stroke 0 is even, so mirrored), length 10 and brush 5. y moves with cos: int(y + 9.9995) = y + 9;
    x moves with sin: int(x - 0.09999) = x - 1 (truncation toward zero). OpenCV draws a 5 px line 7 px
    wide, so an unclipped stroke of n segments spans 9n + 7 rows and 7 + n columns. Rounding instead
    of truncating, or no mirroring, would leave the width at 7; swapping sin/cos would lay it flat.
    """
    checked = 0
    for seed in range(40):
        mask = lama_irregular_mask(rng(seed), 256, 256, min_times=1, max_times=0, max_angle=1, max_len=1, max_width=1)
        rows, cols = np.nonzero(mask)
        if rows.min() == 0 or rows.max() == 255 or cols.min() == 0 or cols.max() == 255:
            continue  # clipped at the canvas edge
        segments, remainder = divmod(int(rows.max() - rows.min() + 1) - 7, 9)
        assert remainder == 0 and 1 <= segments <= 5
        assert cols.max() - cols.min() + 1 == 7 + segments
        checked += 1
    assert checked >= 30


def test_lama_box_sizes_are_inclusive_and_inside_the_margin() -> None:
    sizes: set[tuple[int, int]] = set()
    for seed in range(300):
        mask = lama_box_mask(
            rng(seed), 100, 120, margin=10, bbox_min_size=30, bbox_max_size=32, min_times=1, max_times=1
        )
        rows, cols = np.nonzero(mask)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert np.count_nonzero(mask) == height * width  # one solid rectangle
        assert rows.min() >= 10 and cols.min() >= 10 and rows.max() <= 89 and cols.max() <= 109
        sizes.add((height, width))
    assert {h for h, _ in sizes} == {30, 31, 32} and {w for _, w in sizes} == {30, 31, 32}
    # No +1 on the box count: max_times 0 never draws a box.
    assert not any(lama_box_mask(rng(s), 100, 100, min_times=0, max_times=0).any() for s in range(20))


def test_lama_box_sizes_are_capped_by_the_canvas() -> None:
    """bbox_max_size is limited to H - 2 * margin - 1 (the official `randint` upper bound is exclusive)."""
    for seed in range(50):
        mask = lama_box_mask(
            rng(seed), 60, 60, margin=10, bbox_min_size=30, bbox_max_size=100, min_times=1, max_times=1
        )
        rows, cols = np.nonzero(mask)
        assert rows.max() - rows.min() + 1 <= 39 and cols.max() - cols.min() + 1 <= 39


# Reference table (reference/lama.md section 4, 256 x 256 CelebA row): mean hole area and shares of
# the bins 0-10 / 10-20 / 20-30 / 30-40 / 40-50 % of the official generator with the 50 % filter.
LAMA_256_SQUARE = {
    "lama_thin": (0.288, (0.09, 0.20, 0.22, 0.24, 0.25)),
    "lama_medium": (0.238, (0.24, 0.09, 0.29, 0.28, 0.10)),
    "lama_thick": (0.262, (0.13, 0.22, 0.24, 0.22, 0.18)),
}


@pytest.mark.parametrize("name", sorted(LAMA_256_SQUARE))
def test_lama_eval_statistics_match_the_official_generator(name: str) -> None:
    """400 seeded masks: mean within 0.025 (about 3.5 standard errors), bin shares within 0.07 (3 SE)."""
    protocol = get_protocol({"name": name, "version": 1, "seed": 0})
    samples = protocol.samples([f"{i:05d}" for i in range(400)])
    ratios = np.array([hole_ratio(protocol.render(s, 256, 256)) for s in samples])
    mean, shares = LAMA_256_SQUARE[name]
    assert ratios.max() <= 0.5
    assert abs(ratios.mean() - mean) < 0.025
    measured = np.histogram(ratios, bins=[0, 0.1, 0.2, 0.3, 0.4, 0.5 + 1e-12])[0] / len(ratios)
    assert np.all(np.abs(measured - np.array(shares)) < 0.07), measured


def test_box_center_exact_size_and_position() -> None:
    mask = box_center(None, 256, 256)
    expected = np.zeros((256, 256), np.uint8)
    expected[64:192, 64:192] = 1
    assert np.array_equal(mask, expected)
    odd = box_center(None, 250, 301, size=(100, 60))
    rows, cols = np.nonzero(odd)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (75, 174, 120, 179)
    with pytest.raises(ValueError, match="does not fit"):
        box_center(None, 100, 100, size=128)


def test_deepfill_box_is_the_bbox_shrunk_symmetrically() -> None:
    """bbox top-left uniform in [0, 128) at 256; hole = bbox shrunk by 0..16 px on both sides, per axis."""
    tops, shrinks = [], set()
    for seed in range(400):
        bbox, mask = deepfill_bbox_and_mask(rng(seed), 256, 256)
        assert (bbox.height, bbox.width) == (128, 128)
        rows, cols = np.nonzero(mask)
        dv, dh = rows.min() - bbox.top, cols.min() - bbox.left
        assert 0 <= dv <= 16 and 0 <= dh <= 16
        assert rows.max() == bbox.top + 127 - dv and cols.max() == bbox.left + 127 - dh
        assert np.count_nonzero(mask) == (128 - 2 * dv) * (128 - 2 * dh)
        tops += [bbox.top, bbox.left]
        shrinks |= {dv, dh}
    assert min(tops) >= 0 and max(tops) <= 127 and max(tops) > 120 and min(tops) < 8
    assert shrinks == set(range(17))
