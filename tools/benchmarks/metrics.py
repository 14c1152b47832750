"""Images/s of the whole metric pass at 256x256: inpaintbench's one pass vs one pass per metric.

Random-weight backbones stand in for the real ones (timing only; no metric value is reported).
- "one pass": `MetricSuite.score` per batch: SSIM, PSNR, L1 whole/hole, LPIPS-alex, Inception
  features of real and completed images, each computed once per sample.
- "per metric": LaMa's evaluator style, one full pass over the data per metric (SSIM, PSNR, L1
  whole, L1 hole, LPIPS, then pytorch-fid's own `InceptionV3` over the real set and the completed
  set), re-compositing and re-quantising each pass as a separate tool would after reading files.

Run: `python -m tools.benchmarks.metrics [--images 32] [--batch 8] [--threads 2]`.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from inpaintbench.inpainter import complete
from inpaintbench.metrics import backbones
from inpaintbench.metrics import functional as fn
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.suite import MetricSuite


def _data(n: int, size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.round(torch.rand(n, 3, size, size, generator=g) * 255) / 255
    mask = torch.zeros(n, 1, size, size)
    mask[..., 64:192, 64:192] = 1
    pred = torch.rand(n, 3, size, size, generator=g)
    return real, mask, pred


def _random_lpips() -> torch.nn.Module:
    from torchvision.models import alexnet

    return backbones.build_lpips("alex", backbone=alexnet(weights=None).state_dict())


def one_pass(real: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, batch: int) -> float:
    torch.manual_seed(0)
    inception = backbones.build_inception_fid(backbones._fid_inception_net().state_dict())
    suite = MetricSuite(MetricConfig(), inception=inception, lpips={"alex": _random_lpips()}, cache=None)
    start = time.perf_counter()
    for i in range(0, len(real), batch):
        completed = complete(real[i : i + batch], mask[i : i + batch], pred[i : i + batch])
        suite.score(real[i : i + batch], completed, mask[i : i + batch])
    return time.perf_counter() - start


def per_metric(real: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, batch: int) -> float:
    from pytorch_fid import inception as pf

    torch.manual_seed(0)
    state = backbones._fid_inception_net().state_dict()
    pf.load_state_dict_from_url = lambda *a, **k: state  # random weights, no download
    fid_net = pf.InceptionV3([3]).eval()
    lpips = _random_lpips()

    def batches():
        for i in range(0, len(real), batch):
            yield (
                real[i : i + batch],
                complete(real[i : i + batch], mask[i : i + batch], pred[i : i + batch]),
                mask[i : i + batch],
            )

    start = time.perf_counter()
    with torch.inference_mode():
        for r, c, _ in batches():
            fn.ssim(r, c)
        for r, c, _ in batches():
            fn.psnr(r, c)
        for r, c, _ in batches():
            fn.l1_whole(r, c)
        for r, c, m in batches():
            fn.l1_hole(r, c, m)
        for r, c, _ in batches():
            lpips(r, c)
        for r, _, _ in batches():
            fid_net(r)
        for _, c, _ in batches():
            fid_net(c)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/metrics.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real, mask, pred = _data(args.images)
    ours = one_pass(real, mask, pred, args.batch)
    theirs = per_metric(real, mask, pred, args.batch)
    lines = [
        "# Metric pass throughput (256x256, random-weight backbones, timing only)",
        "",
        f"- machine: {platform.processor() or platform.machine()}, torch threads {args.threads}, "
        f"torch {torch.__version__}; {args.images} images, batch {args.batch}",
        "- command: `python -m tools.benchmarks.metrics "
        f"--images {args.images} --batch {args.batch} --threads {args.threads}`",
        "",
        "| evaluation | seconds | images/s |",
        "|---|---|---|",
        f"| inpaintbench one pass (SSIM, PSNR, L1 x2, LPIPS-alex, Inception real+completed) | {ours:.2f} "
        f"| {args.images / ours:.2f} |",
        f"| one pass per metric (LaMa-style), pytorch-fid InceptionV3 | {theirs:.2f} | {args.images / theirs:.2f} |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
