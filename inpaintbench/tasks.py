"""Plain functions behind every CLI command; the tests call these directly.

Each takes a composed config (or plain arguments for the file-oriented commands) and returns
something inspectable; printing is limited to what a user of the command needs to see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from inpaintbench.evaluation.inpaint import inpaint_file  # noqa: F401  (`inpaintbench inpaint`)

# --- evaluation, leaderboard, comparison (inpaintbench.metrics / results / report) ------------------


def evaluate(cfg: Any) -> Any:
    """`inpaintbench eval`: see `inpaintbench.evaluation.evaluate.evaluate`."""
    from inpaintbench.evaluation.evaluate import evaluate as run_evaluation

    return run_evaluation(cfg)


def report(cfg: Any, stores: list[Any] | None = None) -> tuple[Path, Path]:
    """`inpaintbench report`: see `inpaintbench.report.build.write_report`."""
    from inpaintbench.report.build import write_report

    return write_report(cfg, stores)


def compare(cfg: Any) -> Any:
    """`inpaintbench compare`: see `inpaintbench.evaluation.compare.compare_models`."""
    from inpaintbench.evaluation.compare import compare_models

    return compare_models(cfg)


def weights_status() -> list[dict[str, Any]]:
    """`inpaintbench weights`: metric backbones, then the official model releases."""
    from inpaintbench.evaluation import weight_files

    return weight_files.weights_status()


def weights_import(path: str | Path) -> Path:
    """`inpaintbench weights import FILE`: a metric backbone file into the torch hub cache, hash checked."""
    from inpaintbench.evaluation import weight_files

    return weight_files.weights_import(path)


# --- fixed mask sets ---------------------------------------------------------------------------


def masks_make(cfg: DictConfig) -> Path:
    """`inpaintbench masks make`: a fixed mask set (PNGs + manifest.json) for the configured protocol."""
    from inpaintbench.masks import commands

    return commands.masks_make(cfg)


def masks_check(root: str | Path | None = None, *, full: bool = False) -> bool:
    """`inpaintbench masks check`: the published sets (or every set under `root`); True when all pass."""
    from inpaintbench.masks import commands

    return commands.masks_check(root, full=full)


def masks_publish(names: list[str] | None = None) -> list[Path]:
    """`inpaintbench masks publish`: the standard sets missing from masks/; never rewrites one."""
    from inpaintbench.masks import commands

    return commands.masks_publish(names)


def masks_export(
    name: str, layout: str, out: str | Path, images: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """`inpaintbench masks export`: a published set in another tool's file layout."""
    from inpaintbench.masks import commands

    return commands.masks_export(name, layout, out, images, root)


# --- training and the zoo ------------------------------------------------------------------------


def train(cfg: DictConfig) -> Any:
    """Train or resume `cfg.model` and export its generator to the zoo layout."""
    from inpaintbench.config import hydra_overrides
    from inpaintbench.training.train import reproduce_command
    from inpaintbench.training.train import train as run_training

    overrides = hydra_overrides()
    command = reproduce_command(overrides) if overrides is not None else None
    entry = run_training(cfg, command=command)
    if entry is not None:
        print(f"exported {entry.weights} (sha256 {entry.card['sha256'][:12]}, {entry.card['steps']} steps)")
    return entry


def zoo(models_dir: str | Path | None = None, exports_dir: str | Path | None = None) -> list[Any]:
    """`inpaintbench zoo`: see `inpaintbench.zoo.print_zoo`."""
    from inpaintbench.zoo import print_zoo

    return print_zoo(models_dir, exports_dir)


# --- official releases (inpaintbench.release) -----------------------------------------------------


def weights_fetch(name: str, cache_dir: str | Path | None = None) -> Path:
    """`inpaintbench weights fetch NAME`: a metric backbone or an official release with a direct URL."""
    from inpaintbench.evaluation import weight_files

    return weight_files.weights_fetch(name, cache_dir)


def weights_convert(model: str, file: str | Path, out: str | Path | None = None) -> Path:
    """`inpaintbench convert`: an official release file -> `.safetensors` in our layout + card."""
    from inpaintbench.evaluation import weight_files

    return weight_files.weights_convert(model, file, out)


# --- default benchmark and CI regression -----------------------------------------------------------


def bench(cfg: DictConfig) -> tuple[Path, Path]:
    """`make bench`: every committed zoo checkpoint + baselines x protocols, then the leaderboard of
    exactly those runs (your other evaluations stay out of it); ends with the total wall time."""
    import time

    from inpaintbench.evaluation.evaluate import run_plan

    started = time.perf_counter()
    stores = [outcome.store for _item, outcome in run_plan(cfg)]
    paths = report(cfg, stores)
    minutes, seconds = divmod(round(time.perf_counter() - started), 60)
    page = Path(str(cfg.paths.leaderboard)) / "report" / "index.html" if cfg.get("html", True) else paths[1]
    print(f"bench: {len(stores)} runs in {minutes} min {seconds:02d} s; open {page}")
    return paths


def regress(cfg: DictConfig) -> None:
    """Compare a fixed small evaluation and the tiny models' forward passes with results/golden;
    exits with status 1 on drift. `rewrite_golden=true` rewrites the golden files instead."""
    from inpaintbench.config import hydra_overrides
    from inpaintbench.evaluation.regression import golden_provenance
    from inpaintbench.evaluation.regression import regress as run_regression

    code = run_regression(cfg, golden_provenance(str(cfg.paths.repo), hydra_overrides() or []))
    if code:
        raise SystemExit(code)
