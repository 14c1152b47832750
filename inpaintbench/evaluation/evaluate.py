"""Running evaluations: one from a composed config (`inpaintbench eval`, the public
`inpaintbench.evaluate`, each item of a bench plan): resolve a zoo checkpoint, label a folder dataset
by content, run the shards in one process or over ranks, print the summary table; and a whole bench
plan (`run_plan`, which `bench` and `regress` use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from inpaintbench.evaluation.bench import BenchItem, eval_config, plan, resolve_checkpoint, sample_counts


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config (see conf/eval.yaml) in one process or over
    `devices` x `num_nodes` ranks; return the EvalOutcome (None on ranks other than 0)."""
    from inpaintbench.evaluation.distributed import evaluate_config
    from inpaintbench.metrics.config import MetricConfig
    from inpaintbench.report.table import render_summary

    cfg = with_data_label(resolve_checkpoint(cfg))
    outcome = evaluate_config(cfg)
    if outcome is not None and cfg.get("print_table", True):
        record = outcome.store.record()
        lpips_nets = MetricConfig.from_cfg(OmegaConf.to_container(cfg.metrics, resolve=True)).lpips_nets
        print(f"{record['model']} on {cfg.data.name} / {record['protocol_id']} -> {outcome.store.path}")
        print(render_summary(outcome.summary, lpips_nets))
    return outcome


def with_data_label(cfg: Any) -> Any:
    """`data.name: null` (folder datasets) -> `<folder>-<content hash>`, so two folders never share a label."""
    if cfg.data.get("name"):
        return cfg
    from inpaintbench.data import build_dataset

    return OmegaConf.merge(cfg, {"data": {"name": build_dataset(cfg.data).label()}})


def run_plan(cfg: DictConfig) -> Iterator[tuple[BenchItem, Any]]:
    """Evaluate every item (resuming finished runs for free); yields (item, EvalOutcome). With
    `cfg.progress`, one bar over all items' samples shows where the plan is and its ETA."""
    items = plan(cfg)
    counts = sample_counts(cfg, items)
    show = bool(cfg.get("progress", True))
    with tqdm(total=sum(counts), unit="sample", disable=not show, dynamic_ncols=True) as bar:
        for index, (item, count) in enumerate(zip(items, counts, strict=True), 1):
            bar.set_description(f"[{index}/{len(items)}] {item.name} / {item.protocol}")
            item_cfg = eval_config(cfg, item)
            item_cfg.progress = False  # the overall bar replaces the per-run bars
            outcome = evaluate(item_cfg)
            bar.update(count)
            yield item, outcome
