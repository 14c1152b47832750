"""Wall time of an evaluation with `num_workers` = 0, 1, 2 loader processes (issue 19).

Each run is a fresh evaluation of `--model` on the sample data (`limit` images x the irregular
protocol's 6 masks, default batch and shard sizes, completed-image cache off) through
`runner.evaluate_context`, in this process. The metric suite carries random-weight, prepared
Inception and LPIPS-alex backbones (the real ones are not installed here; the work is the same),
or none with `--no-backbones` (the pass is then the cheap pixel metrics only, the case where loading
weighs most). The worker counts run interleaved, order alternating per repeat; the table has medians
and per-repeat paired ratios to `num_workers=0`, and checks that every run wrote the same shard bytes.

Run: `python -m tools.benchmarks.eval_loader [--model lama_tiny.sample_v1] [--limit 4] [--threads 1] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from inpaintbench.config import compose
from inpaintbench.evaluation.bench import resolve_checkpoint
from inpaintbench.evaluation.runner import build_context, evaluate_context
from inpaintbench.metrics.backbones import BackboneUnavailableError, build_inception_fid, build_lpips
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.suite import MetricSuite
from inpaintbench.results import ArrayCache
from tools.benchmarks.benchlib import load_line, machine_line, write_table

WORKERS = (0, 1, 2)


def backbone_factories(backbones: bool) -> tuple[Callable[[], nn.Module], Callable[[str], nn.Module]]:
    """Random-weight Inception / LPIPS-alex built once, or factories that report them missing."""
    from torchvision.models import alexnet

    from inpaintbench.metrics.backbones import _fid_inception_net

    if not backbones:

        def missing(*_: object) -> nn.Module:
            raise BackboneUnavailableError("not used by this benchmark (--no-backbones)")

        return missing, missing
    torch.manual_seed(0)
    inception = build_inception_fid(_fid_inception_net().state_dict())
    lpips = build_lpips("alex", backbone=alexnet(weights=None).state_dict())
    return (lambda: inception), (lambda net: lpips)


def one_run(args: argparse.Namespace, workers: int, root: Path, factories: tuple) -> tuple[float, str]:
    """(seconds, sha256 of the shard bytes) of one fresh evaluation."""
    arch, _, tag = args.model.partition(".")
    overrides = [
        f"model={arch}",
        *([f"checkpoint={args.model}"] if tag else []),  # a zoo checkpoint, as `model=<arch>.<tag>` on the CLI
        "masks=irregular",
        f"limit={args.limit}",
        f"num_workers={workers}",
        f"paths.results={root}",
        "progress=false",
        "cache_completed=false",
    ]
    if args.weights:
        overrides.append(f"weights={args.weights}")
    cfg = resolve_checkpoint(compose("eval", overrides))
    suite = MetricSuite.build(  # prepared as `eval` prepares them; a cold feature cache, like a first evaluation
        MetricConfig(), cache=ArrayCache(root / "features"), inception_factory=factories[0], lpips_factory=factories[1]
    )
    ctx, weights_sha = build_context(cfg, suite=suite)
    start = time.perf_counter()
    outcome = evaluate_context(ctx, root, "sample", {"bench": True}, weights_sha, efficiency=False)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256()
    for path in sorted(outcome.store.shard_dir.iterdir()):
        digest.update(path.read_bytes())
    return seconds, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lama_tiny.sample_v1")
    parser.add_argument("--weights", default=None, help="for a model given by architecture name")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-backbones", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/eval_loader.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    times: dict[int, list[float]] = {w: [] for w in WORKERS}
    shards: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        factories = backbone_factories(not args.no_backbones)
        one_run(args, 0, Path(scratch) / "warmup", factories)
        for repeat in range(args.repeats):
            for workers in WORKERS if repeat % 2 == 0 else WORKERS[::-1]:
                seconds, digest = one_run(args, workers, Path(scratch) / f"r{repeat}w{workers}", factories)
                times[workers].append(seconds)
                shards.add(digest)
                print(
                    f"repeat {repeat} num_workers={workers}: {seconds:.2f} s, load {os.getloadavg()[0]:.2f}", flush=True
                )
    load_after = os.getloadavg()
    samples = args.limit * 6
    pass_kind = (
        "pixel metrics only" if args.no_backbones else "SSIM, PSNR, L1 x2, LPIPS-alex, Inception (random weights)"
    )
    lines = [
        f"# Evaluation wall time vs loader workers ({args.model}, {pass_kind})",
        "",
        machine_line(args.threads) + " (loader workers use 1 each)",
        load_line(load_before, load_after),
        f"- {samples} samples (sample data, limit {args.limit}, irregular protocol), batch 8, shard 64, "
        f"{args.repeats} interleaved repeats; shards identical across all runs: {'yes' if len(shards) == 1 else 'NO'}",
        f"- command: `python -m tools.benchmarks.eval_loader --model {args.model} --limit {args.limit} "
        f"--threads {args.threads} --repeats {args.repeats}{' --no-backbones' if args.no_backbones else ''}`",
        "",
        "| num_workers | median s | samples/s | time / num_workers=0 (median of paired ratios) |",
        "|---|---|---|---|",
    ]
    for workers in WORKERS:
        median = statistics.median(times[workers])
        ratio = statistics.median(t / z for t, z in zip(times[workers], times[0], strict=True))
        lines.append(f"| {workers} | {median:.2f} | {samples / median:.2f} | {ratio:.2f} |")
    write_table(args.out, lines)


if __name__ == "__main__":
    main()
