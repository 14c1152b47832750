"""CPU inference speed: the official code vs ours today (unprepared) vs ours prepared, side by side.

    PYTHONPATH=. python tools/benchmarks/model_speed.py --official /tmp/perf-models/official \
        --models pconv_unet,rfr_net,lama_fourier,lama_big --threads 1 --out results/benchmarks/model_speed.md

One process, one torch build, one set of weights: the official model gets seeded weights in its own
layout (tools/parity.py), ours loads them through its checkpoint converter, so the comparison also
checks that both compute the same image (max abs diff reported). The three variants run interleaved
(official, today, prepared, official, ...) on the same input; the table gives the median time of each
and the median of the per-round ratios, which cancels most of the load other processes put on a shared
machine. GFLOPs come from FlopCounterMode (a multiply-add = 2; FFTs are not counted) and are set against
a conv peak measured in the same process (the best GFLOP/s of a few large 3x3 convolutions).

`--official DIR` holds scratch copies of the official repositories (never committed here):
`pconv/` naoto0804/pytorch-inpainting-with-partial-conv, `rfr/` jingyuanli001/RFR-Inpainting,
`lama/` advimman/lama (its `saicinpainting/utils.py` imports pytorch_lightning: put a stub module
with `seed_everything` on PYTHONPATH, and kornia in the environment, as
tests/fixtures/training_parity/README.md describes). Without it only today-vs-prepared is measured.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from inpaintbench import create_model
from inpaintbench.archs.inference import CHANNELS_LAST_PAYS, prepare_for_inference
from tools import parity  # seeded weights shared with the training-parity fixtures

ROOT = Path(__file__).resolve().parents[2]

SEED = 7


# -- the official models ---------------------------------------------------------------------------


def official_pconv(root: Path) -> tuple[torch.nn.Module, Callable[..., Tensor], dict[str, Tensor]]:
    sys.path.insert(0, str(root / "pconv"))
    from net import PConvUNet

    net = PConvUNet(layer_size=7)
    net.eval()  # the port's train() override returns None
    state = parity.pconv_port_state_dict(SEED, create_model("pconv_unet").state_dict())
    net.load_state_dict(state)
    mean, std = parity.IMAGENET_MEAN, parity.IMAGENET_STD

    def run(image: Tensor, mask: Tensor) -> Tensor:  # the port's test.py: normalised image, 1 = valid
        valid = (1.0 - mask).expand(-1, 3, -1, -1)
        out, _ = net(((image - mean) / std) * valid, valid)
        return out * std + mean

    return net, run, state


def official_rfr(root: Path) -> tuple[torch.nn.Module, Callable[..., Tensor], dict[str, Tensor]]:
    sys.path.insert(0, str(root / "rfr"))
    from modules.RFRNet import RFRNet

    net = RFRNet()
    net.eval()  # the official train() override returns None
    state = parity.seeded_state_dict(SEED, net.state_dict())
    net.load_state_dict(state)
    # Attention.py moves an unused kernel to CUDA on first use; pre-set it so the CPU run skips that line.
    net.RFRModule.att.att.prop_kernels = torch.ones(1)

    def run(image: Tensor, mask: Tensor) -> Tensor:  # run.py / model.py test: masked image, 1 = valid
        valid = (1.0 - mask).expand(-1, 3, -1, -1)
        out, _ = net(image * valid, valid)
        return out

    return net, run, state


def official_lama(root: Path, n_blocks: int) -> tuple[torch.nn.Module, Callable[..., Tensor], dict[str, Tensor]]:
    sys.path.insert(0, str(root / "lama"))
    from saicinpainting.training.modules.ffc import FFCResNetGenerator

    net = FFCResNetGenerator(  # configs/training/generator/ffc_resnet_075.yaml (big-lama: 18 blocks)
        4,
        3,
        ngf=64,
        n_downsampling=3,
        n_blocks=n_blocks,
        add_out_act="sigmoid",
        init_conv_kwargs={"ratio_gin": 0, "ratio_gout": 0, "enable_lfu": False},
        downsample_conv_kwargs={"ratio_gin": 0, "ratio_gout": 0, "enable_lfu": False},
        resnet_conv_kwargs={"ratio_gin": 0.75, "ratio_gout": 0.75, "enable_lfu": False},
    ).eval()
    state = parity.seeded_state_dict(SEED, net.state_dict())
    net.load_state_dict(state)

    def run(image: Tensor, mask: Tensor) -> Tensor:  # DefaultInpaintingTrainingModule.forward
        return net(torch.cat([image * (1 - mask), mask], dim=1))

    return net, run, {f"generator.{k}": v for k, v in state.items()}


OFFICIAL: dict[str, Callable[[Path], tuple[torch.nn.Module, Callable[..., Tensor], dict[str, Tensor]]]] = {
    "pconv_unet": official_pconv,
    "rfr_net": official_rfr,
    "lama_fourier": lambda root: official_lama(root, 9),
    "lama_big": lambda root: official_lama(root, 18),
}


# -- measurement ---------------------------------------------------------------------------------------


def inputs(batch: int, size: int) -> tuple[Tensor, Tensor]:
    image = parity.smooth_images(11, batch, size)
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : size // 2 + size // 8, size // 3 : 2 * size // 3] = 1.0
    return image * (1 - mask), mask


#: `--clock cpu` (default): the process's CPU seconds. With one torch thread this is the compute time
#: itself, and a shared machine's other processes (which deschedule us) barely move it; `wall` for threads > 1.
CLOCK: Callable[[], float] = time.process_time


def timed(fn: Callable[[], Any]) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def conv_peak_gflops(repeats: int) -> float:
    """Best GFLOP/s of large 3x3 convolutions (channels-first and channels_last) in this process."""
    best = 0.0
    with torch.inference_mode():
        for channels, side in ((256, 64), (128, 128)):
            x = torch.randn(1, channels, side, side)
            conv = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
            flops = 2 * channels * channels * 9 * side * side
            for fmt in (torch.contiguous_format, torch.channels_last):
                xf, cf = x.to(memory_format=fmt), conv.to(memory_format=fmt)
                cf(xf)
                seconds = min(timed(lambda cf=cf, xf=xf: cf(xf)) for _ in range(repeats))
                best = max(best, flops / seconds / 1e9)
    return best


def gflops(model: Any, image: Tensor, mask: Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        model.inpaint(image, mask)
    return counter.get_total_flops() / 1e9


def bench_model(name: str, official_root: Path | None, batches: list[int], size: int, repeats: int) -> list[dict]:
    torch.manual_seed(0)
    ours = create_model(name).eval()
    official_run = None
    if official_root is not None and name in OFFICIAL:
        _, official_run, state = OFFICIAL[name](official_root)
        ours.load_state_dict(ours.checkpoint_filter_fn(state))
    else:  # no official side: our own seeded weights, BatchNorm statistics included
        ours.load_state_dict(parity.seeded_state_dict(SEED, ours.state_dict()))
    prepared = prepare_for_inference(ours)
    default_cl = isinstance(prepared, CHANNELS_LAST_PAYS)
    other = prepare_for_inference(ours, channels_last=not default_cl)  # shows the memory-format choice pays
    rows = []
    for batch in batches:
        image, mask = inputs(batch, size)
        variants: dict[str, Callable[[], Tensor]] = {
            "today": lambda image=image, mask=mask: ours.inpaint(image, mask),
            "prepared": lambda image=image, mask=mask: prepared.inpaint(image, mask),
        }
        if batch == 1:
            variants["other_format"] = lambda image=image, mask=mask: other.inpaint(image, mask)
        if official_run is not None:

            def run_official(image: Tensor = image, mask: Tensor = mask) -> Tensor:
                with torch.inference_mode():
                    return official_run(image, mask).clamp(0, 1)

            variants = {"official": run_official, **variants}
        outputs = {key: fn() for key, fn in variants.items()}  # warm-up, and the outputs compared
        times: dict[str, list[float]] = {key: [] for key in variants}
        for _ in range(repeats):
            for key, fn in variants.items():
                times[key].append(timed(fn))
        row = {
            "model": name,
            "batch": batch,
            "median_s": {key: statistics.median(value) for key, value in times.items()},
            "prepared_vs_today": statistics.median(
                t / p for t, p in zip(times["today"], times["prepared"], strict=True)
            ),
            "diff_prepared_today": float((outputs["prepared"] - outputs["today"]).abs().max()),
        }
        if "official" in times:
            for key in ("today", "prepared"):
                row[f"{key}_vs_official"] = statistics.median(
                    o / t for o, t in zip(times["official"], times[key], strict=True)
                )
            row["diff_today_official"] = float((outputs["today"] - outputs["official"]).abs().max())
        if batch == 1:
            row["gflops"] = gflops(ours, image, mask)
            row["other_vs_prepared"] = statistics.median(
                o / p for o, p in zip(times["other_format"], times["prepared"], strict=True)
            )
            reference = copy.deepcopy(ours).double()  # float32 rounding noise: today vs float64
            with torch.inference_mode():
                exact = reference.inpaint(image.double(), mask.double())
            row["diff_today_float64"] = float((outputs["today"].double() - exact).abs().max())
            row["diff_prepared_float64"] = float((outputs["prepared"].double() - exact).abs().max())
            del reference
        rows.append(row)
        print(row, flush=True)
    return rows


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(rows: list[dict], peak: float, args: argparse.Namespace, load_before: tuple, load_after: tuple) -> str:
    lines = [
        "# Model CPU inference: official code vs ours (today) vs ours prepared (issue 19)",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores (shared with other engineers), "
        f"torch {torch.__version__}, {args.threads} torch thread(s) (torch.set_num_threads)",
        f"- load average before: {' / '.join(f'{v:.1f}' for v in load_before)}; "
        f"after: {' / '.join(f'{v:.1f}' for v in load_after)}",
        f"- command: `PYTHONPATH=. python tools/benchmarks/model_speed.py --official {args.official} "
        f"--models {args.models} --batches {args.batches} --size {args.size} --repeats {args.repeats} "
        f"--threads {args.threads} --clock {args.clock}`",
        f"- input {args.size}x{args.size}, seeded weights in the official layout loaded through our converter; "
        f"{args.repeats} interleaved rounds; times are medians in {'CPU' if args.clock == 'cpu' else 'wall'} seconds, "
        "speed-ups `A vs B` are medians of per-round time(B) / time(A) (> 1: A is faster)",
        f"- conv peak measured in the same process: {peak:.1f} GFLOP/s "
        "(best of 3x3 convs, 256 ch @ 64², 128 ch @ 128²)",
        "- prepared = `archs.inference.prepare_for_inference` (BatchNorm folded, in-place activations, "
        "channels_last where it pays; no torch.compile)",
        "",
        "| model | batch | official s | today s | prepared s | today vs official | prepared vs official | "
        "prepared vs today | prepared vs other memory format | GFLOP/s prepared (% of peak) | "
        "max abs diff today-official | prepared-today | today-float64 | prepared-float64 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def diff(row: dict, key: str) -> str:
        return f"{row[key]:.1e}" if key in row else "-"

    for row in rows:
        med = row["median_s"]
        rate = "-"
        if "gflops" in row:
            gfs = row["gflops"] * row["batch"] / med["prepared"]
            rate = f"{gfs:.1f} ({100 * gfs / peak:.0f} %)"
        lines.append(
            f"| {row['model']} | {row['batch']} | {med.get('official', float('nan')):.3f} | {med['today']:.3f} | "
            f"{med['prepared']:.3f} | {fmt_ratio(row.get('today_vs_official'))} | "
            f"{fmt_ratio(row.get('prepared_vs_official'))} | {fmt_ratio(row['prepared_vs_today'])} | "
            f"{fmt_ratio(row.get('other_vs_prepared'))} | {rate} | {diff(row, 'diff_today_official')} | "
            f"{diff(row, 'diff_prepared_today')} | {diff(row, 'diff_today_float64')} | "
            f"{diff(row, 'diff_prepared_float64')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None, help="scratch copies of the official repos")
    parser.add_argument("--models", default="pconv_unet,rfr_net,lama_fourier,lama_big,deepfill_v1")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="process CPU time or wall time")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    peak = conv_peak_gflops(3)
    print(f"conv peak {peak:.1f} GFLOP/s", flush=True)
    rows = []
    for name in args.models.split(","):
        rows += bench_model(name, args.official, [int(b) for b in args.batches.split(",")], args.size, args.repeats)
    text = render(rows, peak, args, load_before, os.getloadavg())
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
