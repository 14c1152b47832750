"""Plain functions behind every CLI command; the tests call these directly.

Each takes a composed config (or plain arguments for the file-oriented commands) and returns
something inspectable; printing is limited to what a user of the command needs to see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from inpaintbench.errors import InpaintbenchError
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
    """Paired bootstrap of model `cfg.a` against `cfg.b` (model names or run directories)."""

    from inpaintbench.evaluation.evaluate import with_data_label
    from inpaintbench.masks import RATIO_BINS, get_protocol
    from inpaintbench.metrics.config import MetricConfig
    from inpaintbench.report.compare import compare_runs, comparison_json, render_comparison, save_comparison
    from inpaintbench.report.selection import find_run

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


def weights_status() -> list[dict[str, Any]]:
    """`inpaintbench weights`: metric backbones (file, where looked for, present, how to install
    offline), then the official model releases."""
    from inpaintbench.metrics.backbones import weights_status as backbone_status

    backbones = backbone_status()
    print("metric backbones (torch hub cache; nothing downloads unless asked):")
    for row in backbones:
        print(f"{row['backbone']:<14} {row['used_by']:<28} {'present' if row['present'] == 'yes' else 'missing'}")
        print(f"    file {row['path']}")
        if row["present"] != "yes":
            print(f"    install: {row['install']}")
    from inpaintbench.release.pretrained import print_release_table, release_table

    releases = release_table()
    print("official model releases:")
    print_release_table(releases)
    return [*backbones, *releases]


def weights_import(path: str | Path) -> Path:
    """`inpaintbench weights import FILE`: copy a metric backbone file into the torch hub cache after
    checking its published hash prefix."""
    from inpaintbench.metrics.backbones import import_weight_file

    target = import_weight_file(path)
    print(f"{Path(path).name}: hash prefix ok, copied to {target}")
    return target


# --- fixed mask sets ---------------------------------------------------------------------------


def masks_make(cfg: DictConfig) -> Path:
    """Write a fixed mask set (PNGs + manifest.json) for the configured protocol."""
    from inpaintbench.masks import make_masks

    image_ids = None
    if cfg.use_data:
        from inpaintbench.data import build_dataset

        image_ids = build_dataset(cfg.data).ids
    out = Path(cfg.out)
    manifest = make_masks(
        cfg.masks,
        out,
        count=int(cfg.count),
        image_ids=image_ids,
        height=int(cfg.height),
        width=int(cfg.width),
        overwrite=bool(cfg.get("overwrite", False)),
    )
    print(f"wrote {len(manifest['files'])} masks of {manifest['protocol_id']} to {out}")
    return out


def masks_check(root: str | Path | None = None, *, full: bool = False) -> bool:
    """Verify mask sets: the published ones in masks/ (default; standard sets present, made to spec)
    or every set under `root`. Hashes, ratios and counts of every file; regenerates every 7th file
    from its generator (`full`: every file). True when all pass."""
    from inpaintbench.masks import PUBLISHED_ROOT, check_masks, check_published
    from inpaintbench.masks.mask_sets import find_mask_sets
    from inpaintbench.masks.published import DEFAULT_REGENERATE_EVERY

    base = Path(root) if root is not None else PUBLISHED_ROOT
    every: bool | int = True if full else DEFAULT_REGENERATE_EVERY
    if base.resolve() == PUBLISHED_ROOT.resolve():
        problems = check_published(base, regenerate=every)
    else:
        problems = check_masks(base, regenerate=every)
    regenerated = "every file" if full else f"every {DEFAULT_REGENERATE_EVERY}th file"
    status = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"{len(find_mask_sets(base))} mask set(s) under {base} ({regenerated} regenerated): {status}")
    for problem in problems:
        print(f"  {problem}")
    return not problems


def masks_publish(names: list[str] | None = None) -> list[Path]:
    """Write the standard sets missing from masks/ (a new protocol version's); never rewrites one."""
    from inpaintbench.masks import publish

    written = publish(names=names or None)
    for folder in written:
        print(f"wrote {folder}")
    if not written:
        print("every standard set is already published")
    return written


def masks_export(
    name: str, layout: str, out: str | Path, images: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """Write a published set in another tool's file layout (inpaintbench.masks.export)."""
    from inpaintbench.data.datasets import list_image_files
    from inpaintbench.masks import get_protocol
    from inpaintbench.masks.export import export_set

    protocol = get_protocol({"name": "published", "set": name, "root": root})
    image_ids = list_image_files(images) if images is not None else None
    rows = export_set(protocol, layout, out, image_ids=image_ids, images_root=images)
    print(f"wrote {len(rows)} masks of {protocol.set_name} in the {layout} layout to {out} (white = hole)")
    if layout == "lama":
        print(f"  LaMa: predict/evaluate with indir={out} and img_suffix=.png")
    elif layout == "folder" and image_ids is not None and len(protocol.groups[0]) == 1:
        print(f"  here: inpaintbench eval masks=folder masks.root={out} masks.polarity=hole_white masks.threshold=0.5")
    return Path(out)


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
    """Download a release with a direct URL (release id, or model name with one such release)."""
    from inpaintbench.metrics.backbones import BACKBONES, fetch_weight_file
    from inpaintbench.registry import UnknownNameError, unknown_name_message
    from inpaintbench.release.fetch import fetch_release
    from inpaintbench.release.pretrained import RELEASES, find_release

    if name in BACKBONES:  # a metric backbone (inception_fid, alexnet, vgg16)
        path = fetch_weight_file(name)
        print(f"{name}: {path}")
        return path
    try:
        release = find_release(name)
    except UnknownNameError:
        raise UnknownNameError(unknown_name_message("weights", name, [*BACKBONES, *RELEASES.names()])) from None
    path = fetch_release(release, cache_dir=Path(cache_dir) if cache_dir else None)
    print(f"{name}: {path}")
    return path


def weights_convert(model: str, file: str | Path, out: str | Path | None = None) -> Path:
    """Official release file -> `.safetensors` in our layout + card (source sha256, layout, licence)."""
    from inpaintbench.convert import convert_release
    from inpaintbench.evaluation.loading import load_inpainter

    def learned_only(learned: bool) -> None:
        if not learned:
            raise InpaintbenchError(f"model '{model}' is not learned and has no weights to convert")

    inpainter, _ = load_inpainter(model, check=learned_only)
    target, card = convert_release(inpainter, model, file, out)
    print(f"wrote {target} (sha256 {card['sha256'][:12]}, layout {card['layout']}, from {Path(file).name})")
    return target


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
