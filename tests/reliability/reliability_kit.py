"""Small on-disk datasets and runners shared by the trust and fault-injection tests.

Images are 48x48 PNGs of smooth random colour fields, masks are box PNGs (white = hole) of a few
sizes, so the real pipeline (folder dataset, folder masks, OpenCV Telea, every per-image metric)
runs in well under a second per evaluation. Metric backbones are unavailable (an empty hub), so
FID, KID and LPIPS take their documented 'unavailable' path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "slow_driver.py"
SIZE = 48


def smooth_image(seed: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    """(H, W, 3) uint8: a low-frequency colour field (inpainting has something to continue)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))


def box_mask(index: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    """(H, W) uint8 {0, 255}: a box touching the border for even indices, inside for odd ones."""
    side = 8 + 4 * (index % 5)
    top = 0 if index % 2 == 0 else 10
    mask = np.zeros((height, width), np.uint8)
    mask[top : top + side, 5 : 5 + side + 3] = 255
    return mask


def make_dataset(root: Path, n: int = 6, seed: int = 0) -> tuple[Path, Path]:
    """`root/images/imgXX.png` and `root/masks/imgXX.png`; returns (images folder, masks folder)."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(smooth_image(seed * 1000 + i)).save(images / f"img{i:02d}.png")
        Image.fromarray(box_mask(i)).save(masks / f"img{i:02d}.png")
    return images, masks


def overrides(results: Path, images: Path, masks: Path, *extra: str) -> list[str]:
    """Eval overrides for a folder dataset with folder masks (2 samples per shard, 3 shards for 6)."""
    return [
        "model=opencv_telea",
        "data=folder",
        f"data.root={images}",
        f"data.size={SIZE}",
        "masks=folder",
        f"masks.root={masks}",
        "masks.polarity=hole_white",
        "masks.threshold=0.5",
        f"paths.results={results}",
        "progress=false",
        "print_table=false",
        "metrics.bootstrap.resamples=50",
        "shard_size=2",
        "batch_size=2",
        *extra,
    ]


def evaluate(results: Path, images: Path, masks: Path, *extra: str) -> Any:
    """`tasks.evaluate` in this process; returns the EvalOutcome."""
    from inpaintbench import tasks
    from inpaintbench.config import compose

    return tasks.evaluate(compose("eval", overrides(results, images, masks, *extra)))


def report(results: Path, *extra: str) -> tuple[Path, Path]:
    from inpaintbench import tasks
    from inpaintbench.config import compose

    return tasks.report(compose("report", [f"paths.results={results}", "progress=false", *extra]))


def cli(args: list[str]) -> int:
    """`inpaintbench ARGS` in this process; the exit status (0 when it returns)."""
    from inpaintbench.cli import main

    try:
        main(args)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def subprocess_env(tmp: Path) -> dict[str, str]:
    """One thread, an empty torch hub (no backbones), the worktree's package first on the path."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        TORCH_HOME=str(tmp / "torch_home"),
        SOURCE_DATE_EPOCH="1767225600",
        HYDRA_FULL_ERROR="0",
    )
    return env


def start_eval_command(delay: float) -> list[str]:
    """The command line prefix running the CLI with `delay` seconds spent before each shard."""
    return [sys.executable, str(DRIVER), str(delay)]


def start_eval(tmp: Path, args: list[str], delay: float = 0.0) -> subprocess.Popen:
    """`inpaintbench eval ARGS` as a child process; `delay` seconds are spent before each shard
    (by `slow_driver.py`) so a test can kill it at a known point."""
    command = [*start_eval_command(delay), "eval", *args]
    return subprocess.Popen(
        command, env=subprocess_env(tmp), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_dirs(results: Path) -> list[Path]:
    return sorted(p.parent for p in (results / "runs").glob("**/run.json"))


def shard_files(run: Path) -> list[Path]:
    return sorted((run / "shards").glob("*.jsonl"))
