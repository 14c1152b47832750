"""One evaluation from a composed config (`inpaintbench eval`, the public `inpaintbench.evaluate`,
each item of a bench plan): resolve a zoo checkpoint, label a folder dataset by content, run the
shards in one process or over ranks, print the summary table."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config (see conf/eval.yaml) in one process or over
    `devices` x `num_nodes` ranks; return the EvalOutcome (None on ranks other than 0)."""
    from inpaintbench.evaluation.bench import resolve_checkpoint
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
