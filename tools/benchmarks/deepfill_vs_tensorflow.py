"""DeepFill v1 CPU inference: the official TensorFlow graph vs ours (today, prepared), in one process.

    TF_USE_LEGACY_KERAS=1 PYTHONPATH=.:<project site-packages> <TensorFlow venv>/bin/python \\
        -m tools.benchmarks.deepfill_vs_tensorflow --official /tmp/perf-models/official/deepfill \\
        --neuralgym /tmp/perf-models/official --out results/benchmarks/deepfill_vs_tensorflow.md

The official side is JiahuiYu/generative_inpainting v1.0.0 `InpaintCAModel.build_inpaint_net`
(coarse network, contextual attention, refinement) run by TensorFlow 2.21 as `tf.compat.v1` graph
code, with the import shims of `tools.parity_deepfill.install_tf1_shims` (`tf.contrib`'s arg_scope,
neuralgym summaries as no-ops); nothing in the graph is changed. TensorFlow and the scratch copies
are never project dependencies.

Both sides get the same seeded variables (numpy, keyed by TF name; ours through our TF converter),
the same BGR [-1,1] input with its hole blanked and one mask shared by the batch (as the official
`build_server_graph`). Both run with one thread (TF intra/inter-op 1, torch.set_num_threads(1)),
interleaved, CPU seconds of the process (`time.process_time`); the ratios are medians of per-round
ratios. The output difference (max abs, [-1,1] scale) checks that both compute the same image.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tools import parity_deepfill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="generative_inpainting v1.0.0 copy")
    parser.add_argument("--neuralgym", type=Path, required=True, help="folder holding neuralgym/")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow
    import torch

    from inpaintbench import create_model
    from inpaintbench.archs.inference import prepare_for_inference

    torch.set_num_threads(1)
    tf = tensorflow.compat.v1
    tf.disable_eager_execution()
    parity_deepfill.install_tf1_shims(tf, args.neuralgym)
    sys.path.insert(0, str(args.official))
    inpaint_model = importlib.import_module("inpaint_model")

    size = args.size
    values: dict[str, np.ndarray] = {}

    def build(batch: int) -> tuple:
        """The official generator graph for a static batch (contextual attention needs one), seeded."""
        with tf.Graph().as_default() as graph:
            x_in = tf.placeholder(tf.float32, [batch, size, size, 3])
            mask_in = tf.placeholder(tf.float32, [1, size, size, 1])
            _, x2, _ = inpaint_model.InpaintCAModel().build_inpaint_net(x_in, mask_in, reuse=False, training=False)
            config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
            session = tf.Session(graph=graph, config=config)
            for v in tf.global_variables():
                name = v.name.removesuffix(":0")
                values[name] = parity_deepfill.seeded_variable(7, name, tuple(v.shape.as_list()))
                v.load(values[name], session)
        return session, x_in, mask_in, x2

    graphs = {batch: build(batch) for batch in [int(b) for b in args.batches.split(",")]}
    ours = create_model("deepfill_v1").eval()
    ours.load_state_dict(ours.checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in values.items()}))
    prepared = prepare_for_inference(ours)

    rng = np.random.default_rng(3)
    mask = np.zeros((1, size, size, 1), np.float32)
    mask[:, size // 4 : size // 2 + size // 8, size // 3 : 2 * size // 3] = 1.0
    rows = []
    for batch, (session, x_in, mask_in, x2) in graphs.items():
        image = rng.uniform(-1, 1, (batch, size // 8, size // 8, 3)).astype(np.float32).repeat(8, 1).repeat(8, 2)
        image = image * (1 - mask)
        x_t = torch.from_numpy(image).permute(0, 3, 1, 2).contiguous()
        m_t = torch.from_numpy(mask).permute(0, 3, 1, 2).expand(batch, -1, -1, -1).contiguous()
        feed = {x_in: image, mask_in: mask}

        def official(feed: dict = feed, session: object = session, x2: object = x2) -> np.ndarray:
            return session.run(x2, feed)

        def today(x_t: torch.Tensor = x_t, m_t: torch.Tensor = m_t) -> torch.Tensor:
            with torch.inference_mode():
                return ours.generate(x_t, m_t)[1]

        def prep(x_t: torch.Tensor = x_t, m_t: torch.Tensor = m_t) -> torch.Tensor:
            with torch.inference_mode():
                return prepared.generate(x_t, m_t)[1]

        variants = {"official": official, "today": today, "prepared": prep}
        outs = {k: fn() for k, fn in variants.items()}
        reference = torch.from_numpy(outs["official"]).permute(0, 3, 1, 2)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for key, fn in variants.items():
                start = time.process_time()
                fn()
                times[key].append(time.process_time() - start)
        row = {
            "batch": batch,
            **{f"{k}_s": statistics.median(v) for k, v in times.items()},
            **{
                f"{k}_vs_official": statistics.median(o / t for o, t in zip(times["official"], times[k], strict=True))
                for k in ("today", "prepared")
            },
            "diff_today": float((outs["today"] - reference).abs().max()),
            "diff_prepared": float((outs["prepared"] - reference).abs().max()),
        }
        print(row, flush=True)
        rows.append(row)

    load_after = os.getloadavg()
    lines = [
        "# DeepFill v1 CPU inference: official TensorFlow graph vs ours (issue 19)",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, "
        f"TensorFlow {tensorflow.__version__}; one thread each (TF intra/inter-op 1, torch.set_num_threads(1))",
        f"- load average before: {' / '.join(f'{v:.1f}' for v in load_before)}; "
        f"after: {' / '.join(f'{v:.1f}' for v in load_after)}",
        f"- command: `TF_USE_LEGACY_KERAS=1 PYTHONPATH=.:<project site-packages> <tf venv>/bin/python "
        f"-m tools.benchmarks.deepfill_vs_tensorflow --official <generative_inpainting v1.0.0> --neuralgym <dir> "
        f"--batches {args.batches} --size {args.size} --repeats {args.repeats}`",
        f"- input {size}x{size} BGR [-1,1], one mask per batch; seeded variables; {args.repeats} interleaved rounds; "
        "medians of CPU seconds; speed-ups are medians of per-round time(official) / time(ours) (> 1: ours faster)",
        "",
        "| batch | official TF s | today s | prepared s | today vs official | prepared vs official | "
        "max abs diff today-official | prepared-official |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['official_s']:.3f} | {r['today_s']:.3f} | {r['prepared_s']:.3f} | "
            f"{r['today_vs_official']:.2f}x | {r['prepared_vs_official']:.2f}x | {r['diff_today']:.1e} | "
            f"{r['diff_prepared']:.1e} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
