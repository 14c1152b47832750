"""Do per-sample values depend on the batch size? `python -m tools.benchmarks.batch_independence`.

For every zoo checkpoint (models/*.safetensors) and the OpenCV baselines, evaluates the first
`--limit` sample images x the irregular protocol with batch sizes 1, 8 and 16 (everything else
equal) and compares (a) the per-sample rows of the shard files (completed-image sha256 and every
metric value) byte for byte and (b) the raw float predictions. The answer decides whether the batch
size stays in the run hash (issue 17). Writes results/benchmarks/batch_independence.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch

from inpaintbench.config import compose
from inpaintbench.evaluation.runner import build_context, evaluate_context
from inpaintbench.zoo import list_zoo

REPO = Path(__file__).resolve().parents[2]
BATCHES = (1, 8, 16)


def _rows(store) -> list[dict]:
    return list(store.iter_rows())


def _predictions(ctx, batch: int, samples: list) -> np.ndarray:
    """Raw float predictions of the first samples, inpainted in batches of `batch`."""
    from inpaintbench.evaluation.runner import dataset_ids, load_sample
    from inpaintbench.inpainter import blank_hole

    index_of = {image_id: i for i, image_id in enumerate(dataset_ids(ctx.dataset))}
    loaded = [load_sample(ctx, s, index_of[str(s.image_id)]) for s in samples]
    if any(isinstance(item, str) for item in loaded):
        raise SystemExit(f"unreadable sample: {next(item for item in loaded if isinstance(item, str))}")
    out = []
    for start in range(0, len(loaded), batch):
        image = torch.stack([item.image for item in loaded[start : start + batch]])
        mask = torch.stack([item.mask for item in loaded[start : start + batch]])
        with torch.inference_mode():
            out.append(ctx.model.inpaint(blank_hole(image, mask), mask).float().numpy())
    return np.concatenate(out)


def compare(model: str, weights: str | None, limit: int, root: Path) -> dict:
    rows, preds = {}, {}
    for batch in BATCHES:
        overrides = [
            f"model={model}",
            "masks=irregular",
            f"limit={limit}",
            f"batch_size={batch}",
            f"paths.results={root / str(batch)}",
            "progress=false",
            "metrics.bootstrap.resamples=10",
        ]
        if weights:
            overrides.append(f"weights={weights}")
        ctx, sha = build_context(compose("eval", overrides))
        outcome = evaluate_context(ctx, root / str(batch), "sample", {}, sha, efficiency=False)
        rows[batch] = _rows(outcome.store)
        samples = list(ctx.protocol.samples(ctx.image_ids))[:16]
        preds[batch] = _predictions(ctx, batch, samples)
    reference = rows[1]
    result = {"model": model, "weights": Path(weights).name if weights else "-", "samples": len(reference)}
    for batch in BATCHES[1:]:
        same_rows = sum(
            json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
            for a, b in zip(reference, rows[batch], strict=True)
        )
        same_completed = sum(
            a["completed_sha256"] == b["completed_sha256"] for a, b in zip(reference, rows[batch], strict=True)
        )
        differing: dict[str, float] = {}  # field -> largest |difference| over the samples
        for a, b in zip(reference, rows[batch], strict=True):
            for field, value in a.items():
                if b.get(field) != value and isinstance(value, float):
                    differing[field] = max(differing.get(field, 0.0), abs(value - b[field]))
        result[f"b{batch}"] = {
            "differing_fields": {k: differing[k] for k in sorted(differing)},
            "identical_rows": same_rows,
            "identical_completed": same_completed,
            "max_abs_pred_diff": float(np.abs(preds[batch] - preds[1]).max()),
        }
    return result


def verdict(results: list[dict]) -> str:
    """What the table shows, in words (computed from it, so a rerun cannot leave a stale sentence)."""
    changed = [c for r in results for c in (r[f"b{batch}"] for batch in BATCHES[1:])]
    outputs = sorted({r["model"] for r in results for b in BATCHES[1:] if r[f"b{b}"]["max_abs_pred_diff"] > 0})
    levels = any(c["identical_completed"] < r["samples"] for r in results for c in (r[f"b{b}"] for b in BATCHES[1:]))
    metric_only = any(c["identical_rows"] < c["identical_completed"] for c in changed)
    if (
        not outputs
        and not metric_only
        and all(c["identical_rows"] == r["samples"] for r in results for c in (r[f"b{b}"] for b in BATCHES[1:]))
    ):
        return (
            "Verdict: every per-sample value is identical at every batch size measured. The batch size "
            "stays in the run hash all the same: other machines and devices batch their kernels differently."
        )
    parts = []
    if outputs:
        parts.append(
            f"the float32 outputs of {', '.join(outputs)} differ in the last bits between batch sizes"
            + (", enough to move some composites to another 8-bit level" if levels else "")
        )
    if metric_only:
        parts.append("some metric values differ in the last digit even for identical composites")
    return (
        "Verdict: per-sample values depend on the batch size on this CPU: " + "; ".join(parts) + ". The batch "
        "size therefore stays in the run hash. Ranks do not change batches (every shard is batched the same "
        "way by whichever rank runs it), so the number of ranks is not in the run hash."
    )


def render(results: list[dict], limit: int, threads: int, load: tuple[float, float, float]) -> str:
    """The Markdown results file."""
    lines = [
        "# Batch-size independence of per-sample values (issue 17)",
        "",
        f"- machine: {platform.machine()}, torch {torch.__version__}, {threads} torch thread(s), load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start (shared machine; load does not change these values)",
        f"- command: `python -m tools.benchmarks.batch_independence --limit {limit} --threads {threads}`",
        f"- data: the first {limit} sample images x 6 irregular masks; metric backbones absent, so the rows "
        "hold SSIM, PSNR, MSE, L1 (whole, hole) and the sha256 of the 8-bit completed image",
        "- rows: per-sample shard rows identical to batch size 1 (byte for byte); completed: identical 8-bit "
        "composites; pred diff: max |pred_b - pred_1| of the raw float output on the first 16 samples",
        "",
        "| model | samples | b8 rows | b8 completed | b8 pred diff | b16 rows | b16 completed | b16 pred diff "
        "| fields that differ (largest abs. difference) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells, fields = [], {}
        for batch in BATCHES[1:]:
            c = r[f"b{batch}"]
            cells += [
                f"{c['identical_rows']}/{r['samples']}",
                f"{c['identical_completed']}/{r['samples']}",
                f"{c['max_abs_pred_diff']:.1e}",
            ]
            for k, v in c["differing_fields"].items():
                fields[k] = max(fields.get(k, 0.0), v)
        listed = ", ".join(f"{k} {v:.1e}" for k, v in sorted(fields.items())) or "none"
        lines.append(f"| {r['model']} ({r['weights']}) | {r['samples']} | " + " | ".join(cells) + f" | {listed} |")
    lines += ["", verdict(results)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=4, help="sample images (x 6 irregular masks)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "batch_independence.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.hub.set_dir(tempfile.mkdtemp())  # no metric backbones: LPIPS/FID unavailable, pixels metrics only
    models = [(e.arch, str(e.weights)) for e in list_zoo(REPO / "models")] + [
        ("opencv_ns", None),
        ("opencv_telea", None),
    ]
    load = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, weights in models:
            results.append(compare(arch, weights, args.limit, Path(tmp) / arch))
            print(json.dumps(results[-1]))
    Path(args.out).write_text(render(results, args.limit, args.threads, load))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
