"""Mask rendering speed: `python -m tools.benchmarks.masks [--out results/benchmarks/masks.md]`.

Renders N masks per protocol and training generator on one thread and reports masks per second,
so a change that slows the data pipeline shows up in the committed results file.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from inpaintbench.masks.protocol import get_protocol
from inpaintbench.masks.ratio import hole_ratio
from inpaintbench.masks.training import TRAIN_MASKS

PROTOCOL_NAMES = ("irregular", "lama_thin", "lama_medium", "lama_thick", "box_center", "box_random")


def time_protocol(name: str, size: int, count: int) -> tuple[float, float]:
    """(masks per second, mean hole ratio) for `count` image ids of a protocol at size x size."""
    params = {"resolution": 512} if name.startswith("lama_") and size == 512 else {}
    protocol = get_protocol({"name": name, "seed": 0, **params})
    samples = protocol.samples([f"{i:05d}" for i in range(count)])
    start = time.perf_counter()
    ratios = [hole_ratio(protocol.render(sample, size, size)) for sample in samples]
    return len(samples) / (time.perf_counter() - start), float(np.mean(ratios))


def time_generator(name: str, size: int, count: int) -> tuple[float, float]:
    generator = TRAIN_MASKS.get(name)
    start = time.perf_counter()
    ratios = [hole_ratio(generator(np.random.default_rng(i), size, size)) for i in range(count)]
    return count / (time.perf_counter() - start), float(np.mean(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="image ids (protocols) / masks (generators)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    lines = [
        "# Mask rendering speed",
        "",
        f"One thread, {args.count} image ids per protocol (irregular: 6 masks each) / {args.count} training masks; "
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, OpenCV {cv2.__version__}. "
        "LaMa protocols use their 512 parameter row at 512; training generators use their defaults.",
        "",
        "| kind | name | size | masks/s | mean hole ratio |",
        "|---|---|---|---|---|",
    ]
    for size in (256, 512):
        for name in PROTOCOL_NAMES:
            rate, mean = time_protocol(name, size, args.count)
            lines.append(f"| protocol | {name} | {size} | {rate:.0f} | {mean:.3f} |")
        for name in TRAIN_MASKS.names():
            rate, mean = time_generator(name, size, args.count)
            lines.append(f"| training | {name} | {size} | {rate:.0f} | {mean:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
