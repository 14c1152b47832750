"""Seeded mask generators, evaluation protocols, fixed mask sets with manifests, ratio bins.

Masks are uint8 (H, W) arrays with values {0, 1}, 1 = hole. Training generators live in
`TRAIN_MASKS`; evaluation protocols in `PROTOCOLS` (build one with `get_protocol(masks_cfg)`).
The committed sets in the repository's masks/ are described by `published` (`STANDARD_SETS`, the
`published` protocol, `check_published`); `export` writes a set in other tools' file layouts.
"""

from inpaintbench.masks import folder as _folder  # noqa: F401  (registers the folder protocol)
from inpaintbench.masks import protocols as _protocols  # noqa: F401  (registers the generated protocols)
from inpaintbench.masks import published as _published  # noqa: F401  (registers the published-set protocol)
from inpaintbench.masks.boxes import BBox, box_center, box_random, deepfill_bbox_and_mask
from inpaintbench.masks.folder import read_mask
from inpaintbench.masks.lama import LAMA_EVAL_SETS, lama_box_mask, lama_eval_mask, lama_irregular_mask, lama_mixed_mask
from inpaintbench.masks.mask_sets import (
    check_mask_set,
    check_masks,
    make_masks,
    pixel_sha256,
    write_mask_set,
)
from inpaintbench.masks.protocol import PROTOCOLS, MaskProtocol, MaskSample, get_protocol
from inpaintbench.masks.published import PUBLISHED_ROOT, STANDARD_SETS, check_published, publish
from inpaintbench.masks.ratio import RATIO_BINS, bin_bounds, hole_ratio, ratio_bin
from inpaintbench.masks.seeding import derive_rng
from inpaintbench.masks.strokes import irregular_strokes, strokes_to_ratio
from inpaintbench.masks.training import TRAIN_MASKS, make_train_mask

__all__ = [
    "LAMA_EVAL_SETS",
    "PROTOCOLS",
    "PUBLISHED_ROOT",
    "RATIO_BINS",
    "STANDARD_SETS",
    "TRAIN_MASKS",
    "BBox",
    "MaskProtocol",
    "MaskSample",
    "bin_bounds",
    "box_center",
    "box_random",
    "check_mask_set",
    "check_masks",
    "check_published",
    "deepfill_bbox_and_mask",
    "derive_rng",
    "get_protocol",
    "hole_ratio",
    "irregular_strokes",
    "lama_box_mask",
    "lama_eval_mask",
    "lama_irregular_mask",
    "lama_mixed_mask",
    "make_masks",
    "make_train_mask",
    "pixel_sha256",
    "publish",
    "ratio_bin",
    "read_mask",
    "strokes_to_ratio",
    "write_mask_set",
]
