"""Do per-sample values depend on the batch size? `python benchmarks/batch_independence.py`.

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
from inpaintbench.metrics.runner import build_context, evaluate_context
from inpaintbench.zoo import list_zoo

REPO = Path(__file__).resolve().parents[1]
BATCHES = (1, 8, 16)


def _rows(store) -> list[dict]:
    return list(store.iter_rows())


def _predictions(ctx, batch: int, samples: list) -> np.ndarray:
    """Raw float predictions of the first samples, inpainted in batches of `batch`."""
    from inpaintbench.metrics.runner import _load_batch

    index_of = {image_id: i for i, image_id in enumerate(ctx.image_ids)}
    out = []
    for start in range(0, len(samples), batch):
        _, _, image, mask = _load_batch(ctx, samples[start : start + batch], index_of)
        with torch.inference_mode():
            out.append(ctx.model.inpaint(image * (1 - mask), mask).float().numpy())
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
    lines = [
        "# Batch-size independence of per-sample values (issue 17)",
        "",
        f"- machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
        f"{args.threads} torch thread(s), load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start",
        f"- command: `python benchmarks/batch_independence.py --limit {args.limit} --threads {args.threads}`",
        f"- data: the first {args.limit} sample images x 6 irregular masks; metric backbones absent, so the rows "
        "hold SSIM, PSNR, L1 (whole, hole) and the sha256 of the 8-bit completed image",
        "- rows: per-sample shard rows identical to batch size 1 (byte for byte); completed: identical 8-bit "
        "composites; pred diff: max |pred_b - pred_1| of the raw float output on the first 16 samples",
        "",
        "| model | weights | samples | b8 rows | b8 completed | b8 pred diff "
        "| b16 rows | b16 completed | b16 pred diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = []
        for batch in BATCHES[1:]:
            c = r[f"b{batch}"]
            cells += [
                f"{c['identical_rows']}/{r['samples']}",
                f"{c['identical_completed']}/{r['samples']}",
                f"{c['max_abs_pred_diff']:.2e}",
            ]
        lines.append(f"| {r['model']} | {r['weights']} | {r['samples']} | " + " | ".join(cells) + " |")
    fields = sorted(
        {f"{k} ({v:.1e})" for r in results for b in BATCHES[1:] for k, v in r[f"b{b}"]["differing_fields"].items()}
    )
    lines += [
        "",
        "Fields that differ from batch size 1 (largest absolute difference): " + (", ".join(fields) or "none"),
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
