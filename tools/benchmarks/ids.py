"""Added cost of P-IDS / U-IDS: the SVM time per bin size, and per 1,000 samples of a whole run.

P-IDS / U-IDS need no network pass (they read the Inception features the runner already stores),
so their cost is the linear SVM fitted per bin and overall at aggregation time. Two figures:

- `inception_discriminative_scores` alone on N pairs of 2048-d features, per recipe;
- the part of `summarize` that `metrics.ids.enabled=true` adds, on a synthetic 1,000-sample run
  stored in shards (six hole-ratio bins + all, as the irregular protocol gives).

The features are synthetic (non-negative, correlated like pooled ReLU activations, the completed
set a perturbed copy), because these machines have no Inception weights; how long liblinear takes
depends on the data, so real features will differ. Timing only; no score is reported as a result.

Run: `OMP_NUM_THREADS=1 python -m tools.benchmarks.ids [--sizes 250,1000] [--repeats 3] [--run-samples 1000]`
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import sklearn
import torch

from inpaintbench.metrics.aggregate import _ids_cells
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.ids import IDSConfig, inception_discriminative_scores
from inpaintbench.results import RunKey, RunStore

DIMS = 2048
BINS = ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60"]
RECIPES = {
    "comodgan/MAT (default)": IDSConfig(enabled=True),
    "halves + standardize": IDSConfig(enabled=True, split="halves", normalize="standardize"),
}


def features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(real, completed) pairs: ReLU of a rank-64 mixture plus noise; completed = a perturbed latent."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(0, 1, (64, DIMS))
    latent = rng.normal(0, 1, (n, 64))
    real = np.maximum(latent @ mix / 8 + 0.2 + 0.1 * rng.normal(0, 1, (n, DIMS)), 0)
    moved = latent + 0.5 * rng.normal(0, 1, (n, 64))
    fake = np.maximum(moved @ mix / 8 + 0.25 + 0.1 * rng.normal(0, 1, (n, DIMS)), 0)
    return real.astype(np.float32), fake.astype(np.float32)


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def timed(action: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def synthetic_run(root: Path, n: int) -> RunStore:
    """A run directory holding n samples spread evenly over six bins, 64 per shard, like the runner's."""
    store = RunStore.open(root, RunKey("synthetic", "bench@v1", "synthetic", {"n": n}), {}, {})
    real, fake = features(n, seed=1)
    rng = np.random.default_rng(2)
    for shard, start in enumerate(range(0, n, 64)):
        stop = min(start + 64, n)
        rows = [
            {
                "index": i,
                "image_id": f"img{i}",
                "mask_id": f"m{i}",
                "bin": BINS[i % len(BINS)],
                **{m: float(rng.random()) for m in ("ssim", "psnr", "l1_whole", "l1_hole")},
            }
            for i in range(start, stop)
        ]
        store.write_shard(shard, rows, {"inception_real": real[start:stop], "inception_fake": fake[start:stop]})
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,1000", help="pairs per SVM (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run-samples", type=int, default=1000)
    parser.add_argument("--run-repeats", type=int, default=1)
    parser.add_argument("--out", default="results/benchmarks/ids.md")
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "# P-IDS / U-IDS added cost (synthetic 2048-d features, timing only)",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, OMP_NUM_THREADS={threads}, "
        f"torch threads {torch.get_num_threads()}",
        f"- command: `OMP_NUM_THREADS={threads} python -m tools.benchmarks.ids --sizes {args.sizes} "
        f"--repeats {args.repeats} --run-samples {args.run_samples} --run-repeats {args.run_repeats}`",
        "- load average (1, 5, 15 min) is recorded before each figure: the 2-core machine is shared",
        "",
        "## One SVM (fit + score) on N (real, completed) pairs",
        "",
        "| recipe | N pairs | median s | all runs s | load average before |",
        "|---|---|---|---|---|",
    ]
    for n in [int(s) for s in args.sizes.split(",")]:
        real, fake = features(n)
        for name, config in RECIPES.items():
            load = os.getloadavg()
            median, runs = timed(
                lambda r=real, f=fake, c=config: inception_discriminative_scores(r, f, c), args.repeats
            )
            runs_text = ", ".join(f"{t:.2f}" for t in runs)
            lines.append(f"| {name} | {n} | {median:.2f} | {runs_text} | {_load(load)} |")
            print(lines[-1], flush=True)
    lines += [
        "",
        f"## Added to aggregating a {args.run_samples}-sample run (6 bins + all)",
        "",
        "What `metrics.ids.enabled=true` adds to `summarize`: `_ids_cells` for each bin and `all`, i.e. reading",
        "the bin's stored features from the shard files and one SVM per bin (default comodgan/MAT recipe).",
        "",
        "| part | median s | all runs s | load average before |",
        "|---|---|---|---|",
    ]
    config = replace(MetricConfig(), ids=IDSConfig(enabled=True))
    with tempfile.TemporaryDirectory(prefix="ids_bench_") as tmp:
        store = synthetic_run(Path(tmp), args.run_samples)
        positions: dict[str, list[tuple[int, int]]] = {}
        for row in store.iter_rows():
            place = (row["index"] // 64, row["index"] % 64)
            positions.setdefault(row["bin"], []).append(place)
            positions.setdefault("all", []).append(place)
        load = os.getloadavg()
        total, runs = timed(lambda: [_ids_cells(store, p, config) for p in positions.values()], args.run_repeats)
        runs_text = ", ".join(f"{t:.2f}" for t in runs)
        sizes = ", ".join(f"{name}: {len(p)}" for name, p in positions.items())
        lines.append(f"| every bin + all (N = {sizes}) | {total:.2f} | {runs_text} | {_load(load)} |")
        print(lines[-1], flush=True)
    per_1000 = total * 1000 / args.run_samples
    lines += [
        "",
        f"Added cost: **{per_1000:.1f} s per 1,000 samples** (median of {args.run_repeats}; each sample is in",
        "its bin and in `all`, and the SVM time grows faster than N, so larger runs cost more per sample).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
