"""OpenCV's classical inpainters: Telea's fast marching method and Navier-Stokes (Bertalmio 2001).

Both work on 8-bit images, so the wrapper rounds the input to 8-bit levels (the embedded data is
8-bit already, so nothing is lost there) and returns the result on the same levels.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from inpaintbench.inpainter import check_batch, to_uint8
from inpaintbench.model_registry import register_model

_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


class OpenCVInpainter:
    """`cv2.inpaint` applied image by image; `radius` is the neighbourhood in pixels."""

    #: Part of the run hash and completed-image cache key: another OpenCV may inpaint other pixels.
    engine_version = f"opencv {cv2.__version__}"

    def __init__(self, method: str, radius: float = 3.0) -> None:
        if method not in _METHODS:
            raise ValueError(f"unknown OpenCV inpainting method '{method}' (known: {', '.join(_METHODS)})")
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self.method = method
        self.radius = float(radius)

    def eval(self) -> OpenCVInpainter:
        """Nothing to switch (no layers); here so every inpainter answers `model.eval().inpaint(...)`."""
        return self

    def to(self, device: str | torch.device) -> OpenCVInpainter:
        """OpenCV runs on the CPU; `inpaint` returns its result on the input's device."""
        return self

    def inpaint(self, image: Tensor, mask: Tensor) -> Tensor:
        check_batch(image, mask)
        images = to_uint8(image).cpu().numpy()
        holes = (mask[:, 0] > 0.5).to(torch.uint8).cpu().numpy()
        out = np.empty_like(images)
        for i, (rgb, hole) in enumerate(zip(images, holes, strict=True)):
            out[i] = cv2.inpaint(np.ascontiguousarray(rgb), hole, self.radius, _METHODS[self.method])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(image.device, torch.float32) / 255.0


@register_model("opencv_telea", family="baseline", learned=False, paper="Telea 2004")
def opencv_telea(radius: float = 3.0) -> OpenCVInpainter:
    return OpenCVInpainter("telea", radius)


@register_model("opencv_ns", family="baseline", learned=False, paper="Bertalmio et al. 2001")
def opencv_ns(radius: float = 3.0) -> OpenCVInpainter:
    return OpenCVInpainter("ns", radius)
