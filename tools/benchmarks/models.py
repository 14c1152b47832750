"""Cost of every registered model at 256x256 on this machine: `python -m tools.benchmarks.models`.

Parameters, GFLOPs (FlopCounterMode, a multiply-add = 2 FLOPs; FFTs are not counted), CPU images/s
at batch 1 and 8, and peak live-tensor memory, measured by `inpaintbench.evaluation.efficiency` on
randomly initialised weights (speed does not depend on the values). Writes a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from inpaintbench import create_model, list_models
from inpaintbench.evaluation.efficiency import measure


def _fmt(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def benchmark(names: list[str], repeats: int) -> list[str]:
    rows = [
        "| model | params | GFLOPs @256 | CPU img/s b1 | CPU img/s b8 | peak MB (b1) |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        torch.manual_seed(0)
        model = create_model(name)
        model.eval()  # every inpainter answers eval() (inpainter.Inpainter)
        cost = measure(model, repeats=repeats)
        latency = cost.get("latency_ms_b1")
        per_second_b1 = None if not latency else 1000.0 / latency
        rows.append(
            f"| {name} | {_fmt(cost.get('params_m'), 3)} M | {_fmt(cost.get('gflops_256'), 2)} | "
            f"{_fmt(per_second_b1, 2)} | {_fmt(cost.get('throughput_b8'), 2)} | {_fmt(cost.get('peak_memory_mb'), 0)} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*", help="glob over registered names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/models.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = list_models(args.models)
    rows = benchmark(names, args.repeats)
    header = [
        "# Model cost at 256x256",
        "",
        f"- machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}",
        f"- command: `python -m tools.benchmarks.models --threads {args.threads} --repeats {args.repeats}`",
        "- random weights; GFLOPs count a multiply-add as 2 and do not count FFTs (LaMa's spectral branch)",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
