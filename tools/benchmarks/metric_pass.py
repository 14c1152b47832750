"""The metric pass vs the same metrics run as separate tools, on an evaluation-shaped workload (issue 19).

Workload: `--images` distinct 256x256 8-bit images x `--masks` hole masks each (image-major, as the
irregular protocol orders its samples), completed = composite of the image with a random prediction
on 8-bit levels. Backbones carry random weights (timing only: the FLOPs and kernels do not depend on
the weight values; no metric value is reported). Every variant gets the same in-memory tensors, so
PNG decoding is left out of both sides (it is the same for both, and the tools would decode more).

Variants, timed interleaved in every repeat (ratios are per repeat, then the median):
- `ours`: `MetricSuite.score` per batch, as `eval` runs it: prepared backbones (`metrics.prepare`),
  a fresh (cold) content cache per repeat, so each real image goes through Inception and AlexNet
  once across its masks (and through AlexNet once per batch).
- `ours-warm`: the same, with the real images' Inception features already in the content cache
  from an earlier evaluation of the same images (what every run after the first sees: `make bench`
  evaluates every model and protocol on one image set, `eval` reruns and new models likewise), so
  Inception runs on completed images only. LPIPS is cached per (real, completed) pair, so real
  images still go through AlexNet once per batch.
- `ours-unprepared-nocache`: the same suite with the published layouts and `cache=None` (the
  backbones before issue 19; the benchmark before it passed `cache=None`): real images repeated
  within a batch still run once, across batches again.
- `tools-per-pair`: pytorch-fid's `InceptionV3` over every sample's real image and completed image
  (a folder of (image, mask) pairs, as LaMa's evaluator does), `lpips.LPIPS('alex')`,
  torchmetrics' SSIM and PSNR (`reduction='none'`), L1 whole / hole in torch (no tool has hole L1).
- `tools-unique-real`: the same, but pytorch-fid sees each distinct real image once (a
  deduplicated real folder, the best case for the tools).

FLOP budget: the Inception / AlexNet images each variant computes times the FLOPs of one image;
`bound` is the tools' measured time over the time the variant would need at 100 % of the conv peak
with no other work (the most its ratio could be on this machine).

FLOP rate: conv/linear FLOPs (a multiply-add = 2) of the Inception and LPIPS-alex forwards that each
variant really runs, counted with `torch.utils.flop_counter`, divided by the variant's time, as a
percentage of a conv peak measured in the same process right before it (the best of a few large
oneDNN channels-last convolutions).

Run: `python -m tools.benchmarks.metric_pass [--images 6] [--masks 6] [--batch 8] [--threads 2] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from inpaintbench.inpainter import complete
from inpaintbench.metrics import backbones
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.prepare import prepare_backbone
from inpaintbench.metrics.suite import MetricSuite
from inpaintbench.results import ArrayCache
from tools.benchmarks.benchlib import load_line, machine_line, write_table

SIZE = 256


def workload(images: int, masks: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """(real, mask, completed) per sample, image-major, and each sample's image index."""
    g = torch.Generator().manual_seed(seed)
    distinct = torch.round(torch.rand(images, 3, SIZE, SIZE, generator=g) * 255) / 255
    owner = [i for i in range(images) for _ in range(masks)]
    mask = torch.zeros(len(owner), 1, SIZE, SIZE)
    for s in range(len(owner)):  # boxes of 10 %..50 % of the image
        side = int(SIZE * (0.1 + 0.4 * (s % masks) / max(masks - 1, 1)) ** 0.5)
        top, left = (int(v) for v in torch.randint(0, SIZE - side, (2,), generator=g))
        mask[s, :, top : top + side, left : left + side] = 1
    real = distinct[owner]
    completed = complete(real, mask, torch.rand(len(owner), 3, SIZE, SIZE, generator=g))
    return real, mask, completed, owner


def random_backbones() -> tuple[nn.Module, nn.Module]:
    from torchvision.models import alexnet

    torch.manual_seed(0)
    inception = backbones.build_inception_fid(backbones._fid_inception_net().state_dict())
    lpips = backbones.build_lpips("alex", backbone=alexnet(weights=None).state_dict())
    return inception, lpips


CLOCKS = {
    "cpu": "the process's CPU time (time.process_time; with 1 torch thread the compute time, "
    "without the waits for a core on this shared machine), conv peak timed the same way",
    "wall": "elapsed time (time.perf_counter)",
}
Seconds = tuple[float, float]  # (wall, process CPU) seconds


def elapsed(start: Seconds) -> Seconds:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def now() -> Seconds:
    return time.perf_counter(), time.process_time()


def run_suite(suite: MetricSuite, real: Tensor, mask: Tensor, completed: Tensor, batch: int) -> Seconds:
    start = now()
    for i in range(0, len(real), batch):
        suite.score(real[i : i + batch], completed[i : i + batch], mask[i : i + batch])
    return elapsed(start)


def run_tools(
    tools: dict[str, nn.Module],
    real: Tensor,
    mask: Tensor,
    completed: Tensor,
    owner: list[int],
    batch: int,
    unique_real: bool,
) -> Seconds:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    fid_net, lpips_net = tools["fid"], tools["lpips"]
    start = now()
    with torch.inference_mode():
        reals = real[sorted(set(owner), key=owner.index)] if unique_real else real
        for i in range(0, len(reals), batch):  # pytorch-fid, real folder
            fid_net(reals[i : i + batch])
        for i in range(0, len(completed), batch):  # pytorch-fid, completed folder
            fid_net(completed[i : i + batch])
        for i in range(0, len(real), batch):  # lpips
            lpips_net(real[i : i + batch], completed[i : i + batch], normalize=True)
        for i in range(0, len(real), batch):  # torchmetrics
            r, c = real[i : i + batch], completed[i : i + batch]
            structural_similarity_index_measure(c, r, data_range=1.0, reduction="none")
            peak_signal_noise_ratio(c, r, data_range=1.0, reduction="none", dim=(1, 2, 3))
        for i in range(0, len(real), batch):  # L1 whole and hole
            diff = (real[i : i + batch] - completed[i : i + batch]).abs()
            hole = mask[i : i + batch]
            diff.mean(dim=(1, 2, 3))
            (diff * hole).sum(dim=(1, 2, 3)) / (3 * hole.sum(dim=(1, 2, 3)))
    return elapsed(start)


def network_flops(inception: nn.Module, lpips: nn.Module) -> tuple[float, float]:
    """Conv/linear FLOPs of one image through the FID Inception and through LPIPS-alex's backbone."""
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as count:
            inception(x)
        inc = count.get_total_flops()
        with FlopCounterMode(display=False) as count:
            lpips(x, x)
    return float(inc), float(count.get_total_flops()) / 2  # per image: lpips runs two


def conv_peak(clock: Callable[[], float]) -> float:
    """Best FLOP/s of a few large fused channels-last convolutions (the machine's practical limit)."""
    best = 0.0
    for n, c, hw, k in ((8, 192, 35, 3), (8, 768, 17, 1), (4, 256, 64, 3)):
        x = torch.rand(n, c, hw, hw).contiguous(memory_format=torch.channels_last)
        w, b = torch.rand(c, c, k, k), torch.rand(c)
        flops = 2 * n * c * c * k * k * hw * hw
        pad = [k // 2] * 2
        op = torch.ops.mkldnn._convolution_pointwise
        with torch.inference_mode():
            op(x, w, b, pad, [1, 1], [1, 1], 1, "relu", [], "")
            times = []
            for _ in range(3):
                start = clock()
                op(x, w, b, pad, [1, 1], [1, 1], 1, "relu", [], "")
                times.append(clock() - start)
        best = max(best, flops / min(times))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--masks", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="; ".join(f"{name}: {what}" for name, what in CLOCKS.items()),
    )
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/metric_pass.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load_before = os.getloadavg()
    real, mask, completed, owner = workload(args.images, args.masks)
    n, distinct = len(real), args.images
    inception, lpips = random_backbones()
    prepared_inc, prepared_lpips = prepare_backbone(copy.deepcopy(inception)), prepare_backbone(copy.deepcopy(lpips))
    import lpips as lpips_package
    from pytorch_fid import inception as pf

    state = inception.net.state_dict()
    pf.load_state_dict_from_url = lambda *a, **k: state  # the same random weights, no download
    tools = {
        "fid": pf.InceptionV3([3]).eval(),
        "lpips": lpips_package.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval(),
    }
    tools["lpips"].net.load_state_dict(lpips.lpips.net.state_dict())
    inc_flops, lpips_flops = network_flops(inception, lpips)
    batches = [owner[i : i + args.batch] for i in range(0, n, args.batch)]
    per_batch = sum(len(set(b)) for b in batches) + n  # a real image repeated in a batch runs once
    images_run = {  # (Inception images, AlexNet images) each variant computes
        "ours": (distinct + n, per_batch),
        "ours-warm": (n, per_batch),
        "ours-unprepared-nocache": (per_batch, per_batch),
        "tools-per-pair": (2 * n, 2 * n),
        "tools-unique-real": (distinct + n, 2 * n),
    }
    config = MetricConfig()
    Data = tuple[Tensor, Tensor, Tensor, list[int]]
    with tempfile.TemporaryDirectory() as scratch:

        def ours(data: Data) -> Seconds:
            suite = MetricSuite(
                config,
                inception=prepared_inc,
                lpips={"alex": prepared_lpips},
                cache=ArrayCache(tempfile.mkdtemp(dir=scratch)),  # cold: a first evaluation
            )
            return run_suite(suite, *data[:3], args.batch)

        warm_root = Path(scratch) / "warm"
        earlier = MetricSuite(
            config, inception=prepared_inc, lpips={"alex": prepared_lpips}, cache=ArrayCache(warm_root)
        )
        run_suite(earlier, real, mask, real, args.batch)  # an earlier evaluation of the same images

        def warm(data: Data) -> Seconds:
            root = tempfile.mkdtemp(dir=scratch)
            shutil.copytree(warm_root, root, dirs_exist_ok=True)  # a fresh copy per call: misses stay misses
            suite = MetricSuite(config, inception=prepared_inc, lpips={"alex": prepared_lpips}, cache=ArrayCache(root))
            return run_suite(suite, *data[:3], args.batch)

        def unprepared(data: Data) -> Seconds:
            suite = MetricSuite(config, inception=inception, lpips={"alex": lpips}, cache=None)
            return run_suite(suite, *data[:3], args.batch)

        variants: dict[str, Callable[[Data], Seconds]] = {
            "ours": ours,
            "ours-warm": warm,
            "ours-unprepared-nocache": unprepared,
            "tools-per-pair": lambda data: run_tools(tools, *data, args.batch, unique_real=False),
            "tools-unique-real": lambda data: run_tools(tools, *data, args.batch, unique_real=True),
        }
        data = (real, mask, completed, owner)
        for name in variants:  # warm-up on one batch: oneDNN primitives and packed weights, lazy imports
            variants[name]((real[: args.batch], mask[: args.batch], completed[: args.batch], owner[: args.batch]))
        times: dict[str, list[float]] = {name: [] for name in variants}
        rates: dict[str, list[float]] = {name: [] for name in variants}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        peaks: list[float] = []
        names = list(variants)
        for repeat in range(args.repeats):
            order = names if repeat % 2 == 0 else names[::-1]
            for name in order:
                peak = conv_peak(clock)
                peaks.append(peak)
                wall, cpu = variants[name](data)
                seconds = cpu if args.clock == "cpu" else wall
                times[name].append(seconds)
                walls[name].append(wall)
                inc_images, alex_images = images_run[name]
                rates[name].append((inc_images * inc_flops + alex_images * lpips_flops) / seconds / peak)
                print(
                    f"repeat {repeat} {name}: {seconds:.2f} s {args.clock} ({wall:.2f} s wall), "
                    f"peak {peak / 1e9:.1f} GFLOP/s, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    load_after = os.getloadavg()
    ours = times["ours"]

    def ratio(name: str) -> float:
        return statistics.median(t / o for t, o in zip(times[name], ours, strict=True))

    rows = [
        ("ours", "inpaintbench pass: prepared backbones, content cache (cold)"),
        ("ours-warm", "the same, real images' Inception features cached by an earlier run on these images"),
        ("ours-unprepared-nocache", "the same pass with the published (unprepared) layouts and no feature cache"),
        ("tools-per-pair", "separate tools, pytorch-fid on every sample's real image (LaMa-style pairs)"),
        ("tools-unique-real", "separate tools, pytorch-fid on each distinct real image once"),
    ]
    lines = [
        "# Metric pass vs separate tools (256x256, random-weight backbones, timing only)",
        "",
        machine_line(args.threads),
        load_line(load_before, load_after),
        f"- workload: {args.images} images x {args.masks} masks = {n} samples, batch {args.batch}, "
        f"{args.repeats} interleaved repeats (order alternating); medians, ratios paired per repeat",
        f"- clock: {CLOCKS[args.clock]}",
        f"- FLOPs per image: FID Inception {inc_flops / 1e9:.2f} G, LPIPS-alex backbone {lpips_flops / 1e9:.2f} G; "
        f"conv peak (median of {len(peaks)} in-process measurements) {statistics.median(peaks) / 1e9:.1f} GFLOP/s",
        "- command: `python -m tools.benchmarks.metric_pass "
        f"--images {args.images} --masks {args.masks} --batch {args.batch} --threads {args.threads} "
        f"--repeats {args.repeats} --clock {args.clock}`",
        "",
        "| variant | what runs | Inception / AlexNet images | network GFLOP / sample | median s | median wall s "
        "| samples/s | time / ours | tools-per-pair / variant (bound) | network FLOP rate, % of conv peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    peak = statistics.median(peaks)
    tools_time = statistics.median(times["tools-per-pair"])
    for name, what in rows:
        median = statistics.median(times[name])
        inc_images, alex_images = images_run[name]
        flops = inc_images * inc_flops + alex_images * lpips_flops
        speedup = statistics.median(t / v for t, v in zip(times["tools-per-pair"], times[name], strict=True))
        bound = tools_time / (flops / peak)
        lines.append(
            f"| {name} | {what} | {inc_images} / {alex_images} | {flops / n / 1e9:.2f} | {median:.2f} | "
            f"{statistics.median(walls[name]):.2f} | {n / median:.2f} | {ratio(name):.2f} | "
            f"{speedup:.2f} ({bound:.2f}) | {100 * statistics.median(rates[name]):.0f} % |"
        )
    lines += ["", *budget_lines(images_run, inc_flops, lpips_flops, n, rates)]
    write_table(args.out, lines)


def budget_lines(
    images_run: dict[str, tuple[int, int]],
    inc_flops: float,
    lpips_flops: float,
    n: int,
    rates: dict[str, list[float]],
    target: float = 3.0,
) -> list[str]:
    """What the FLOP budget allows: the speed-up over tools-per-pair at equal FLOP rates, and the
    share of the conv peak each of our variants needs over its whole pass for `target` x."""

    def gflops(name: str) -> float:
        inc_images, alex_images = images_run[name]
        return (inc_images * inc_flops + alex_images * lpips_flops) / n / 1e9

    tools_rate = statistics.median(rates["tools-per-pair"])
    lines = [
        f"FLOP budget per sample: tools-per-pair {gflops('tools-per-pair'):.2f} GFLOP (every sample's real and "
        f"completed image through both networks), which ran at {100 * tools_rate:.0f} % of the conv peak."
    ]
    for name in ("ours", "ours-warm"):
        share = gflops(name) / gflops("tools-per-pair")
        lines.append(
            f"- {name}: {gflops(name):.2f} GFLOP, so {1 / share:.2f}x at equal FLOP rates and at most "
            f"{1 / share / tools_rate:.2f}x at 100 % of the peak with no other work; {target:g}x needs "
            f"{100 * target * share * tools_rate:.0f} % of the peak over the whole pass "
            f"(measured: {100 * statistics.median(rates[name]):.0f} %)."
        )
    return lines


if __name__ == "__main__":
    main()
