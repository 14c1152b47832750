"""Samples/s of `inpaintbench eval` with 1 and N ranks: `python -m tools.benchmarks.distributed`.

Runs the real command (`inpaintbench eval model=M devices=N ...`, fresh results directory, completed
image cache off) for each model and rank count in turn, A B A B ..., and reports two figures per run:
- shard phase: samples / (last shard file's mtime - run.json's mtime): the ranks' work alone;
- command: samples / wall time of the whole command (interpreter start, spawning and importing the
  ranks, aggregation and the table included), what a user waits for.
Medians over the repeats and the ratio of the medians (N ranks / 1). Threads are Lightning's: one
process keeps torch's default, each of N spawned ranks gets cores // N. The machine may be shared:
the load average is recorded before and after. Writes results/benchmarks/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "inpaintbench.cli", "eval"]


def one_run(
    model: str, weights: str | None, ranks: int, limit: int, shard_size: int, root: Path
) -> tuple[float, float, int]:
    """(shard-phase samples/s, whole-command samples/s, samples) of one fresh evaluation."""
    overrides = [
        f"model={model}",
        "masks=irregular",
        f"limit={limit}",
        f"devices={ranks}",
        f"paths.results={root}",
        "progress=false",
        "print_table=false",
        "cache_completed=false",
        "efficiency=false",
        "metrics.bootstrap.resamples=100",
        f"shard_size={shard_size}",
    ]
    if weights:
        overrides.append(f"weights={weights}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run([*CLI, *overrides], check=True, cwd=root.parent, env=env, capture_output=True)
    wall = time.perf_counter() - started
    [run_json] = root.glob("runs/*/*/*/*/run.json")
    shards = list((run_json.parent / "shards").glob("*.jsonl"))
    samples = sum(len(p.read_text().splitlines()) for p in shards)
    phase = max(p.stat().st_mtime for p in shards) - run_json.stat().st_mtime
    return samples / phase, samples / wall, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=24, help="sample images (x 6 irregular masks)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=4, help="small shards: the ranks get equal shares")
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "distributed.md"))
    args = parser.parse_args()
    models = [("opencv_ns", None), ("lama_tiny", str(REPO / "models" / "lama_tiny.sample_v1.safetensors"))]
    load_before = os.getloadavg()
    figures: dict[tuple[str, int], list[tuple[float, float]]] = {}
    samples = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model, weights in models:
            for repeat in range(args.repeats):
                for ranks in (1, args.ranks):
                    root = Path(tmp) / f"{model}-{ranks}-{repeat}" / "results"
                    root.parent.mkdir(parents=True)
                    phase, command, samples = one_run(model, weights, ranks, args.limit, args.shard_size, root)
                    figures.setdefault((model, ranks), []).append((phase, command))
                    print(
                        f"{model} ranks={ranks} repeat={repeat}: {phase:.2f} samples/s (shards), "
                        f"{command:.2f} samples/s (command), load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    load_after = os.getloadavg()
    lines = [
        "# Evaluation with 1 and N ranks (issue 17)",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; threads: one process "
        f"keeps torch's default ({torch.get_num_threads()}), each of {args.ranks} spawned ranks gets "
        f"{max(1, (os.cpu_count() or 1) // args.ranks)} (Lightning)",
        f"- load average (1/5/15 min) before: {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f}, "
        f"after: {load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f}. **The machine is shared with "
        "other engineers' jobs**: a load above the core count means every run competed with other work, so "
        "the figures are noisy and only comparable within one table",
        f"- command: `python -m tools.benchmarks.distributed --limit {args.limit} --ranks {args.ranks} "
        f"--repeats {args.repeats} --shard-size {args.shard_size}` ({samples} samples: {args.limit} sample images x 6 "
        f"irregular masks, shards of {args.shard_size}, "
        "completed-image cache off, fresh results directory per run, order A B A B)",
        "- shard phase = samples / (last shard written - run.json written); command = samples / whole-command wall "
        "time (start-up of the interpreter and of the spawned ranks, aggregation and table included)",
        "",
        f"| model | ranks | shard phase samples/s (median of {args.repeats}) | runs | command samples/s (median) "
        "| runs |",
        "|---|---|---|---|---|---|",
    ]
    for model, _ in models:
        for ranks in (1, args.ranks):
            runs = figures[(model, ranks)]
            phase = [r[0] for r in runs]
            command = [r[1] for r in runs]
            lines.append(
                f"| {model} | {ranks} | {statistics.median(phase):.2f} | "
                f"{', '.join(f'{v:.2f}' for v in phase)} | {statistics.median(command):.2f} | "
                f"{', '.join(f'{v:.2f}' for v in command)} |"
            )
    lines += ["", f"| model | shard phase ratio {args.ranks}/1 | command ratio {args.ranks}/1 |", "|---|---|---|"]
    for model, _ in models:
        one = figures[(model, 1)]
        many = figures[(model, args.ranks)]
        ratio_phase = statistics.median(r[0] for r in many) / statistics.median(r[0] for r in one)
        ratio_command = statistics.median(r[1] for r in many) / statistics.median(r[1] for r in one)
        lines.append(f"| {model} | {ratio_phase:.2f} | {ratio_command:.2f} |")
    lines += ["", "GPU: no GPU machine was available for this issue, so 1 vs N devices on GPU is not measured."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
