"""`inpaintbench inpaint`: one image, one mask file, one model -> the 8-bit composite as PNG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inpaintbench.errors import InpaintbenchError

log = logging.getLogger(__name__)


def inpaint_file(
    model: str,
    image: str | Path,
    mask: str | Path,
    out: str | Path,
    weights: str | Path | None = None,
    mask_polarity: str = "hole_white",
    mask_threshold: float = 0.5,
    device: str = "cpu",
    model_args: dict[str, Any] | None = None,
    compile: bool = False,
) -> Path:
    """Inpaint one image with one mask file and save the 8-bit composite as PNG (the model prepared
    for inference as in `eval`: archs.inference)."""
    from PIL import Image

    from inpaintbench.archs.inference import prepare_for_inference
    from inpaintbench.data import read_image
    from inpaintbench.evaluation.loading import load_inpainter
    from inpaintbench.inpainter import blank_hole, complete, to_uint8
    from inpaintbench.masks import read_mask

    picture = read_image(image)[None]
    hole = read_mask(mask, polarity=mask_polarity, threshold=mask_threshold)
    if hole.shape != tuple(picture.shape[-2:]):
        raise InpaintbenchError(
            f"{mask}: mask is {hole.shape[1]}x{hole.shape[0]}, image {image} is {picture.shape[-1]}x{picture.shape[-2]}"
        )
    hole_t = torch.from_numpy(hole.astype(np.float32))[None, None]
    inpainter, _ = load_inpainter(model, model_args, weights or None, device)
    inpainter = prepare_for_inference(inpainter, compile=compile)
    pred = inpainter.inpaint(blank_hole(picture, hole_t).to(device), hole_t.to(device)).cpu()
    result = complete(picture, hole_t, pred)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(result)[0].numpy()).save(out)
    log.info("wrote %s (%d hole pixels, %.1f %% of the image)", out, int(hole.sum()), 100 * hole.mean())
    return out
