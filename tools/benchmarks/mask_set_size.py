"""How many masks a published set needs per bin: the set's own sampling error, measured.

A published set is a sample of N masks from a protocol's generator. Its per-bin mean of any
per-mask quantity differs from the generator's expectation by a sampling error that shrinks as
1/sqrt(N); that error is shared by every model evaluated on the set. We measure it for the hole
ratio and for the PSNR of a fixed inpainter (OpenCV Telea, averaged over a few sample images per
mask, so the variation is the masks'), as the half-width of the 95 % bootstrap interval of the mean
of N masks, for several N. Telea is a stand-in for "a model": learned models vary less with the
mask inside a bin, so its spread is an upper-end estimate.

Run: `python -m tools.benchmarks.mask_set_size [--masks 150] [--images 4] [--size 256]`;
writes results/benchmarks/mask_set_size.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from inpaintbench import create_model
from inpaintbench.config import REPO_ROOT
from inpaintbench.data import read_image
from inpaintbench.inpainter import complete
from inpaintbench.masks import get_protocol, ratio_bin
from inpaintbench.masks.protocols import IRREGULAR_BUCKETS

CANDIDATE_N = (25, 50, 100, 200, 400)


def bootstrap_half_width(values: np.ndarray, n: int, rng: np.random.Generator, repeats: int = 4000) -> float:
    """Half the width of the central 95 % of means of n masks drawn with replacement from `values`."""
    means = rng.choice(values, size=(repeats, n), replace=True).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(high - low) / 2


def per_mask_psnr(masks: list[np.ndarray], images: torch.Tensor) -> np.ndarray:
    """Mean PSNR over `images` of Telea's 8-bit composite, for every mask."""
    model = create_model("opencv_telea")
    out = []
    for mask in masks:
        hole = torch.from_numpy(mask.astype(np.float32))[None, None].expand(len(images), 1, *mask.shape)
        completed = complete(images, hole, model.inpaint(images * (1 - hole), hole))
        mse = ((completed - images) ** 2).flatten(1).mean(1)
        out.append(float((10 * torch.log10(1 / mse)).mean()))
    return np.array(out)


def groups(n_masks: int, size: int) -> dict[str, list[np.ndarray]]:
    """Masks per row of the table: the six irregular buckets, and each LaMa protocol as a whole."""
    ids = [f"study_{i:06d}" for i in range(n_masks)]
    irregular = get_protocol({"name": "irregular"})
    rows: dict[str, list[np.ndarray]] = {f"irregular {b}": [] for b in IRREGULAR_BUCKETS}
    for sample in irregular.samples(ids):
        rows[f"irregular {sample.label}"].append(irregular.render(sample, size, size))
    for name in ("lama_thin", "lama_medium", "lama_thick"):
        protocol = get_protocol({"name": name, "resolution": size})
        rows[name] = [protocol.render(s, size, size) for s in protocol.samples(ids)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=150, help="masks drawn per row")
    parser.add_argument("--images", type=int, default=4, help="sample images each mask is averaged over")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "benchmarks" / "mask_set_size.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted((REPO_ROOT / "data" / "sample" / "eval").glob("*.png"))
    step = max(1, len(files) // args.images)
    images = torch.stack([read_image(f) for f in files[::step][: args.images]])
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    lines = []
    for row, masks in groups(args.masks, args.size).items():
        ratios = np.array([float(m.mean()) for m in masks])
        psnr = per_mask_psnr(masks, images)
        bins = sorted({ratio_bin(r) for r in ratios})
        ratio_hw = [100 * bootstrap_half_width(ratios, n, rng) for n in CANDIDATE_N]
        psnr_hw = [bootstrap_half_width(psnr, n, rng) for n in CANDIDATE_N]
        lines.append(
            f"| {row} | {len(masks)} | {', '.join(bins)} | {100 * ratios.std(ddof=1):.2f} | {psnr.std(ddof=1):.2f} | "
            + " | ".join(f"{r:.2f} / {p:.2f}" for r, p in zip(ratio_hw, psnr_hw, strict=True))
            + " |"
        )
    elapsed = time.perf_counter() - start
    load = os.getloadavg()
    header = " | ".join(f"N={n}" for n in CANDIDATE_N)
    text = "\n".join(
        [
            "# Published mask sets: sampling error of a set of N masks",
            "",
            f"{args.masks} masks per row at {args.size}x{args.size}; PSNR of OpenCV Telea averaged over {len(images)} "
            f"sample images per mask; 95 % bootstrap half-widths (4000 resamples) of the mean over N masks, "
            f"as hole-ratio percentage points / PSNR dB. {platform.machine()}, 1 thread, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {elapsed:.0f} s.",
            "",
            f"| row | masks | measured bins | sd ratio (pp) | sd PSNR (dB) | {header} |",
            "|---" * (5 + len(CANDIDATE_N)) + "|",
            *lines,
            "",
            f"Regenerate: `python -m tools.benchmarks.mask_set_size --masks {args.masks} --images {args.images}`.",
            "",
        ]
    )
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
