"""`inpaintbench compare`: find the two runs (model names or run directories), run the paired
bootstrap per hole-ratio bin, print the table and save it for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inpaintbench.evaluation.evaluate import with_data_label
from inpaintbench.masks import RATIO_BINS, get_protocol
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.report.compare import compare_runs, comparison_json, render_comparison, save_comparison
from inpaintbench.report.selection import find_run


def compare_models(cfg: Any) -> dict[str, Any]:
    """Paired bootstrap of model `cfg.a` against `cfg.b` (model names or run directories)."""
    results = Path(str(cfg.paths.results))
    cfg = with_data_label(cfg)
    protocol_id = str(get_protocol(cfg.masks).protocol_id)
    run_a = find_run(results, str(cfg.a), protocol_id, str(cfg.data.name))
    run_b = find_run(results, str(cfg.b), protocol_id, str(cfg.data.name))
    config = MetricConfig.from_cfg(OmegaConf.to_container(cfg.metrics, resolve=True))
    rows = compare_runs(run_a, run_b, config, list(RATIO_BINS))
    print(render_comparison(str(cfg.a), str(cfg.b), rows))
    saved = save_comparison(results, str(cfg.a), str(cfg.b), run_a, run_b, rows)
    print(f"saved to {saved} (drawn by `inpaintbench report`)")
    return comparison_json(rows)
