"""CPU inference with `compile=true` vs without, per model: what the opt-in costs and what it gives.

    PYTHONPATH=. python -m tools.benchmarks.compile_speed --models pconv_unet,deepfill_v1 --batches 1,8

Both variants are what `eval` runs: `archs.inference.prepare_for_inference(model)` and the same with
`compile=True` (torch.compile of `predict`), on the full-size model with seeded weights (timing and
rounding only; no checkpoint is needed), one torch thread. For every model and batch size a freshly
prepared model compiles on its first call, after `torch._dynamo.reset()` and into its own empty
inductor cache directory: a cold compile of a fixed batch size, as `eval`'s first batch on a new
machine. That call's wall time is the compile time (C++ compilation runs in child processes, which a
CPU clock would miss). Then the two variants run interleaved on the same input, the order
alternating per round; times are medians of the process's CPU seconds, the ratio is the median of
per-round ratios, and the outputs' max abs difference says how far compiled code moves the image.
The table goes to stdout, and to `--out` when given.
"""

from __future__ import annotations

import argparse
import logging
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


def bench(name: str, batch: int, size: int, repeats: int) -> dict:
    """Compile wall seconds, eager / compiled CPU seconds, their ratio and max abs diff at one batch size."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    model.load_state_dict(parity.seeded_state_dict(SEED, model.state_dict()))
    eager = prepare_for_inference(model)
    image, mask = inputs(batch, size)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # a cold compile: nothing reused from earlier ones
        torch._dynamo.reset()
        compiled = prepare_for_inference(model, compile=True)
        start = time.perf_counter()
        out_compiled = compiled.inpaint(image, mask)
        compile_s = time.perf_counter() - start
    out_eager = eager.inpaint(image, mask)
    variants = {"eager": eager, "compiled": compiled}
    times: dict[str, list[float]] = {key: [] for key in variants}
    for round_ in range(repeats):
        for key in list(variants)[:: 1 if round_ % 2 == 0 else -1]:
            times[key].append(timed(lambda m=variants[key]: m.inpaint(image, mask)))
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
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="pconv_unet,deepfill_v1,rfr_net,lama_fourier,lama_big", help="registered model names"
    )
    parser.add_argument("--batches", default="1,8", help="batch sizes, each compiled cold")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per variant")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (Markdown)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("inpaintbench.archs.inference").setLevel(logging.ERROR)  # the CPU warning: measured here
    load_before = os.getloadavg()
    rows = [
        bench(name, int(batch), args.size, args.repeats)
        for name in args.models.split(",")
        for batch in args.batches.split(",")
    ]
    lines = [
        "# CPU inference with `compile=true` vs without (issue 19)",
        "",
        machine_line(1),
        load_line(load_before, os.getloadavg()),
        f"- input {args.size}x{args.size}, seeded weights, prepared models (`archs.inference.prepare_for_inference`); "
        f"{args.repeats} timed round(s) per variant, order alternating, medians of CPU seconds; compile = wall "
        "seconds of the first call, a fresh model compiled cold at each batch size",
        f"- command: `python -m tools.benchmarks.compile_speed --models {args.models} --batches {args.batches} "
        f"--size {args.size} --repeats {args.repeats}`",
        "",
        "| model | batch | compile (first call) s | eager s | compiled s | compiled vs eager | max abs diff |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r['batch']} | {r['compile_s']:.0f} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | "
            f"{r['speedup']:.2f}x | {r['diff']:.1e} |"
            for r in rows
        ),
    ]
    if args.out:
        write_table(args.out, lines)
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
