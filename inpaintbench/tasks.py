"""Plain functions behind the CLI commands; Hydra entry points in cli.py only call these.

evaluate(cfg): score one model on one dataset and mask protocol, print the per-bin table.
report(cfg): gather every run under results/ into the leaderboard CSV and Markdown.
compare(cfg): paired bootstrap comparison of two models' runs on the same pairs.
weights_status(): the metric backbones, where they are looked for and whether they are present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config (see conf/eval.yaml); return the EvalOutcome."""
    from omegaconf import OmegaConf

    from inpaintbench.metrics.runner import build_context, evaluate_context
    from inpaintbench.report.table import render_summary

    ctx, weights_sha = build_context(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    outcome = evaluate_context(
        ctx,
        Path(str(cfg.paths.results)),
        str(cfg.data.name),
        resolved,
        weights_sha,
        cfg.get("efficiency", "auto"),
    )
    if cfg.get("print_table", True):
        print(f"{ctx.model_name} on {cfg.data.name} / {ctx.protocol.protocol_id} -> {outcome.store.path}")
        print(render_summary(outcome.summary, ctx.suite.config.lpips_nets))
    return outcome


def report(cfg: Any) -> tuple[Path, Path]:
    """Write results/leaderboard.csv and results/leaderboard.md from every run under results/."""
    from inpaintbench.report.leaderboard import write_leaderboard

    try:
        from inpaintbench.masks import RATIO_BINS
    except ImportError:  # masks package not present: bins sort by name
        RATIO_BINS = []
    csv_path, md_path, n_runs = write_leaderboard(str(cfg.paths.results), str(cfg.paths.repo), list(RATIO_BINS))
    print(f"{n_runs} run(s) -> {csv_path}, {md_path}")
    return csv_path, md_path


def _find_run(results_root: Path, model: str, protocol_id: str, data: str) -> Any:
    from inpaintbench.results import RunStore, find_runs, slug

    if Path(model).joinpath("run.json").is_file():
        return RunStore(Path(model))

    def matches(record: dict[str, Any]) -> bool:
        same_protocol = slug(record["protocol_id"]) == slug(protocol_id)
        return record["model"] == model and same_protocol and record["data"] == data

    runs = [r for r in find_runs(results_root) if matches(r.record())]
    if not runs:
        raise FileNotFoundError(
            f"no run of '{model}' on {data} / {protocol_id} under {results_root}/runs; run `inpaintbench eval` first"
        )
    if len(runs) > 1:
        listed = ", ".join(str(r.path) for r in runs)
        raise ValueError(
            f"several runs of '{model}' on {data} / {protocol_id} ({listed}); pass the run directory as a=/b="
        )
    return runs[0]


def compare(cfg: Any) -> Any:
    """Paired bootstrap of model `cfg.a` against `cfg.b` (model names or run directories)."""
    from omegaconf import OmegaConf

    from inpaintbench.masks import RATIO_BINS, get_protocol
    from inpaintbench.metrics.config import MetricConfig
    from inpaintbench.report.compare import compare_runs, comparison_json, render_comparison

    results = Path(str(cfg.paths.results))
    protocol_id = str(get_protocol(cfg.masks).protocol_id)
    run_a = _find_run(results, str(cfg.a), protocol_id, str(cfg.data.name))
    run_b = _find_run(results, str(cfg.b), protocol_id, str(cfg.data.name))
    config = MetricConfig.from_cfg(OmegaConf.to_container(cfg.metrics, resolve=True))
    rows = compare_runs(run_a, run_b, config, list(RATIO_BINS))
    print(render_comparison(str(cfg.a), str(cfg.b), rows))
    return comparison_json(rows)


def weights_status() -> list[dict[str, str]]:
    """Metric backbones: file, where looked for, present or not, how to install offline."""
    from inpaintbench.metrics.backbones import weights_status as status

    return status()


def import_weight_file(path: str | Path) -> Path:
    """`inpaintbench weights import FILE`: copy a backbone file into the torch hub cache (hash checked)."""
    from inpaintbench.metrics.backbones import import_weight_file as do_import

    return do_import(path)
