"""CPU inference with `compile=true` vs without, per model: what the opt-in costs and what it gives.

    PYTHONPATH=. python -m tools.benchmarks.compile_speed --models pconv_unet,deepfill_v1 \\
        --batches 1,8 --threads 1 --out results/benchmarks/compile_speed.md

Both variants are what `eval` runs: `archs.inference.prepare_for_inference(model)` and the same with
`compile=True` (torch.compile of `predict`), on the full-size model with seeded weights (timing and
rounding only; no checkpoint is needed). Each batch size compiles once, on its first call, into a
fresh inductor cache directory (a cold compile, as on a new machine): that call's wall time is the
compile time (C++ compilation runs in child processes, which a CPU clock would miss). Then the two
run interleaved on the same input; times are medians of the process's CPU seconds (one torch
thread), the ratio is the median of per-round ratios, and the outputs' max abs difference says how
far compiled code moves the image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from inpaintbench import create_model
from inpaintbench.archs.inference import prepare_for_inference
from tools import parity
from tools.benchmarks.benchlib import load_line, machine_line, write_table
from tools.benchmarks.model_speed import SEED, inputs, timed  # timed: the process's CPU seconds


def bench(name: str, batches: list[int], size: int, repeats: int) -> list[dict]:
    """One row per batch size: compile wall seconds, eager / compiled CPU seconds, ratio, max abs diff."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    model.load_state_dict(parity.seeded_state_dict(SEED, model.state_dict()))
    eager, compiled = prepare_for_inference(model), prepare_for_inference(model, compile=True)
    rows = []
    for batch in batches:
        image, mask = inputs(batch, size)
        start = time.perf_counter()
        out_compiled = compiled.inpaint(image, mask)  # compiles
        compile_s = time.perf_counter() - start
        out_eager = eager.inpaint(image, mask)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(repeats):
            times["eager"].append(timed(lambda image=image, mask=mask: eager.inpaint(image, mask)))
            times["compiled"].append(timed(lambda image=image, mask=mask: compiled.inpaint(image, mask)))
        row = {
            "model": name,
            "batch": batch,
            "compile_s": compile_s,
            "eager_s": statistics.median(times["eager"]),
            "compiled_s": statistics.median(times["compiled"]),
            "speedup": statistics.median(e / c for e, c in zip(times["eager"], times["compiled"], strict=True)),
            "diff": float((out_compiled - out_eager).abs().max()),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="pconv_unet,deepfill_v1,rfr_net,lama_fourier,lama_big")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/compile_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # cold compiles, nothing reused from earlier runs
        for name in args.models.split(","):
            rows += bench(name, [int(b) for b in args.batches.split(",")], args.size, args.repeats)
    lines = [
        "# CPU inference with `compile=true` vs without (issue 19)",
        "",
        machine_line(args.threads),
        load_line(load_before, os.getloadavg()),
        f"- input {args.size}x{args.size}, seeded weights, prepared models (`archs.inference.prepare_for_inference`); "
        f"{args.repeats} interleaved rounds, medians of CPU seconds; compile = wall seconds of the first call "
        "at each batch size, into an empty inductor cache",
        f"- command: `python -m tools.benchmarks.compile_speed --models {args.models} --batches {args.batches} "
        f"--size {args.size} --repeats {args.repeats} --threads {args.threads}`",
        "",
        "| model | batch | compile (first call) s | eager s | compiled s | compiled vs eager | max abs diff |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r['batch']} | {r['compile_s']:.0f} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | "
            f"{r['speedup']:.2f}x | {r['diff']:.1e} |"
            for r in rows
        ),
    ]
    write_table(args.out, lines)


if __name__ == "__main__":
    main()
