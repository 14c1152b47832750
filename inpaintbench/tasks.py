"""Plain functions behind every CLI command; the tests call these directly.

Each takes a composed config (or plain arguments for the file-oriented commands) and returns
something inspectable; printing is limited to what a user of the command needs to see.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from inpaintbench.errors import InpaintbenchError

log = logging.getLogger(__name__)


# --- one image -------------------------------------------------------------------------------


def inpaint_file(
    model: str,
    image: str | Path,
    mask: str | Path,
    out: str | Path,
    weights: str | Path | None = None,
    mask_polarity: str = "hole_white",
    mask_threshold: float = 0.5,
    device: str = "cpu",
    model_args: dict[str, Any] | None = None,
    compile: bool = False,
) -> Path:
    """Inpaint one image with one mask file and save the 8-bit composite as PNG."""
    from PIL import Image

    from inpaintbench import create_model, load_weights
    from inpaintbench.archs.inference import prepare_for_inference
    from inpaintbench.data import read_image
    from inpaintbench.inpainter import blank_hole, complete, to_uint8
    from inpaintbench.masks import read_mask

    picture = read_image(image)[None]
    hole = read_mask(mask, polarity=mask_polarity, threshold=mask_threshold)
    if hole.shape != tuple(picture.shape[-2:]):
        raise InpaintbenchError(
            f"{mask}: mask is {hole.shape[1]}x{hole.shape[0]}, image {image} is {picture.shape[-1]}x{picture.shape[-2]}"
        )
    hole_t = torch.from_numpy(hole.astype(np.float32))[None, None]
    inpainter = create_model(model, **(model_args or {}))
    if isinstance(inpainter, torch.nn.Module):
        if weights:
            load_weights(inpainter, weights)
        inpainter = prepare_for_inference(inpainter.eval().to(device), compile=compile)
    elif weights:
        raise InpaintbenchError(f"model '{model}' is not learned and takes no weights ({weights})")
    pred = inpainter.inpaint(blank_hole(picture, hole_t).to(device), hole_t.to(device)).cpu()
    result = complete(picture, hole_t, pred)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(result)[0].numpy()).save(out)
    log.info("wrote %s (%d hole pixels, %.1f %% of the image)", out, int(hole.sum()), 100 * hole.mean())
    return out


# --- evaluation, leaderboard, comparison (inpaintbench.metrics / results / report) ------------------


def evaluate(cfg: Any) -> Any:
    """Run the metric runner on a composed config (see conf/eval.yaml) in one process or over
    `devices` x `num_nodes` ranks; return the EvalOutcome (None on ranks other than 0)."""
    from inpaintbench.bench import resolve_checkpoint
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
    from omegaconf import OmegaConf

    from inpaintbench.data import build_dataset

    return OmegaConf.merge(cfg, {"data": {"name": build_dataset(cfg.data).label()}})


def report(cfg: Any, stores: list[Any] | None = None) -> tuple[Path, Path]:
    """Write leaderboard.csv, leaderboard.md and (`html=true`) report/index.html to paths.leaderboard
    (results/local/, git-ignored): one complete run per model, dataset and protocol
    (`report.selection`) among every run under paths.results (or among `stores`, as `bench` does);
    the others are listed."""
    from inpaintbench.masks import RATIO_BINS
    from inpaintbench.report.leaderboard import write_leaderboard

    select = cfg.get("select") or []
    select = [select] if isinstance(select, str) else [str(s) for s in select]
    csv_path, md_path, n_runs, not_shown = write_leaderboard(
        str(cfg.paths.results),
        str(cfg.paths.repo),
        list(RATIO_BINS),
        select,
        out_dir=str(cfg.paths.leaderboard),
        stores=stores,
    )
    print(f"{n_runs} run(s) -> {csv_path}, {md_path}")
    for line in not_shown:
        print(f"  not shown: {line}")
    if cfg.get("html", True):
        from inpaintbench.report.html import write_html_report

        page = write_html_report(
            str(cfg.paths.results),
            str(cfg.paths.repo),
            list(RATIO_BINS),
            bool(cfg.get("progress", True)),
            select,
            out_dir=str(cfg.paths.leaderboard),
            stores=stores,
        )
        print(f"html report -> {page} ({page.stat().st_size / 1e6:.1f} MB)")
        if cfg.get("check"):
            check_report(page, csv_path, cfg.get("screenshot"))
    return csv_path, md_path


def check_report(page: Path, csv_path: Path, screenshot: str | None) -> None:
    """`report check=true`: open the page in headless Chromium, print what it found, save screenshots
    beside the page (and the desktop one to `screenshot`); a problem found is exit status 1."""
    import shutil

    from inpaintbench.report.browser import BrowserUnavailableError, check_page, format_check

    try:
        result = check_page(page, csv_path, page.parent)
    except BrowserUnavailableError as err:
        raise InpaintbenchError(f"report check=true: {err}") from None
    print("\n".join(format_check(result)))
    if screenshot:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.screenshots[0], screenshot)
        print(f"screenshot -> {screenshot}")
    if result.problems:
        raise SystemExit(1)


def _find_run(results_root: Path, model: str, protocol_id: str, data: str) -> Any:
    from inpaintbench.report.selection import choose_runs
    from inpaintbench.results import RunRecordError, RunStore, find_runs, run_problem, slug

    if Path(model).joinpath("run.json").is_file():
        store = RunStore(Path(model))
        problem = run_problem(store, store.record())
        if problem:
            raise InpaintbenchError(f"{store.path}: cannot compare this run: {problem}")
        return store

    def matches(store: RunStore) -> bool:
        try:
            record = store.record()
        except RunRecordError:
            return False
        same_protocol = slug(record["protocol_id"]) == slug(protocol_id)
        found = record["model"] == model and same_protocol and record["data"] == data
        return found and run_problem(store, record) is None  # only complete, undamaged runs

    runs = [r for r in find_runs(results_root) if matches(r)]
    if not runs:
        raise FileNotFoundError(
            f"no complete run of '{model}' on {data} / {protocol_id} under {results_root}/runs; "
            "run `inpaintbench eval` first"
        )
    if len(runs) == 1:
        return runs[0]
    choice = choose_runs(runs, root=results_root)  # the run `report` shows for this model, data and protocol
    chosen = choice.shown[0]
    where = chosen.path.relative_to(results_root)
    print(f"{model}: using {where} (the run `report` shows; a=/b= take a run directory to pick another)")
    for line in choice.not_shown:
        print(f"    {line.replace(' not shown: ', ' not used: ')}")
    return chosen


def compare(cfg: Any) -> Any:
    """Paired bootstrap of model `cfg.a` against `cfg.b` (model names or run directories)."""
    from omegaconf import OmegaConf

    from inpaintbench.masks import RATIO_BINS, get_protocol
    from inpaintbench.metrics.config import MetricConfig
    from inpaintbench.report.compare import compare_runs, comparison_json, render_comparison, save_comparison

    results = Path(str(cfg.paths.results))
    cfg = with_data_label(cfg)
    protocol_id = str(get_protocol(cfg.masks).protocol_id)
    run_a = _find_run(results, str(cfg.a), protocol_id, str(cfg.data.name))
    run_b = _find_run(results, str(cfg.b), protocol_id, str(cfg.data.name))
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
    releases = weights_releases()
    print("official model releases:")
    print_releases(releases)
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
    from inpaintbench.training import reproduce_command
    from inpaintbench.training import train as run_training

    overrides = _hydra_overrides()
    command = reproduce_command(overrides) if overrides is not None else None
    entry = run_training(cfg, command=command)
    if entry is not None:
        print(f"exported {entry.weights} (sha256 {entry.card['sha256'][:12]}, {entry.card['steps']} steps)")
    return entry


def zoo(models_dir: str | Path | None = None, exports_dir: str | Path | None = None) -> list[Any]:
    """Print the committed zoo (models/) and your exports (outputs/models/): every checkpoint with
    arch, steps, size and card summary, under the name `inpaintbench eval model=` accepts."""
    from inpaintbench.config import default_paths
    from inpaintbench.zoo import list_zoo

    paths = default_paths()
    folders = [
        ("committed zoo (bench, regress, leaderboard)", Path(models_dir or paths.models)),
        ("your exports (inpaintbench train)", Path(exports_dir or paths.exports)),
    ]
    everything = []
    for title, folder in folders:
        entries = list_zoo(folder) if folder.is_dir() else []
        print(f"{title}: {folder}" + ("" if entries else " (none)"))
        for entry in entries:
            card = entry.card
            size_mb = entry.weights.stat().st_size / 1e6
            print(
                f"  {entry.name:<32} arch={entry.arch:<18} params={card.get('parameters', '?'):>9} "
                f"steps={card.get('steps', '?'):>6} {size_mb:5.1f} MB  sha256={str(card.get('sha256'))[:12]}"
            )
        everything += entries
    print("evaluate one with: inpaintbench eval model=<name> masks=<protocol>")
    return everything


# --- official releases (inpaintbench.release) -----------------------------------------------------


def weights_releases() -> list[dict[str, Any]]:
    """Known official releases per model and whether each is present in the torch hub cache."""
    from inpaintbench.release.catalog import RELEASES, cached_path

    rows = []
    for name in RELEASES.names():
        release = RELEASES.get(name)
        path = cached_path(release)
        rows.append(
            {
                "release": name,
                "model": release.model,
                "dataset": release.dataset,
                "files": list(release.files),
                "licence": release.licence,
                "download": "manual" if release.manual else "direct",
                "where": release.url or release.published_at,
                "sha256": release.sha256 or "unknown",
                "path": str(path),
                "present": path.exists(),
                "notes": release.notes,
            }
        )
    return rows


def print_releases(rows: list[dict[str, Any]]) -> None:
    """The release part of `inpaintbench weights`: one line per release, then where to put it."""
    for row in rows:
        state = "present" if row["present"] else f"missing ({row['download']} download)"
        print(f"{row['release']:<24} {row['model']:<13} {row['dataset']:<30} {state}")
        print(f"    licence {row['licence']}")  # whole: a cut licence text misleads
        print(f"    from {row['where']}")
        print(f"    file {row['path']}  sha256 {row['sha256']}")


def weights_fetch(name: str, cache_dir: str | Path | None = None) -> Path:
    """Download a release with a direct URL (release id, or model name with one such release)."""
    from inpaintbench.metrics.backbones import BACKBONES, fetch_weight_file
    from inpaintbench.registry import UnknownNameError, unknown_name_message
    from inpaintbench.release.catalog import RELEASES, find_release
    from inpaintbench.release.fetch import fetch_release

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
    from inpaintbench import create_model
    from inpaintbench.release.convert import convert_release

    inpainter = create_model(model)
    if not isinstance(inpainter, torch.nn.Module):
        raise InpaintbenchError(f"model '{model}' is not learned and has no weights to convert")
    target, card = convert_release(inpainter, model, file, out)
    print(f"wrote {target} (sha256 {card['sha256'][:12]}, layout {card['layout']}, from {Path(file).name})")
    return target


def _hydra_overrides() -> list[str] | None:
    """The overrides of the running Hydra job (recorded in model cards), or None outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return None


# --- default benchmark and CI regression -----------------------------------------------------------


def bench(cfg: DictConfig) -> tuple[Path, Path]:
    """`make bench`: every committed zoo checkpoint + baselines x protocols, then the leaderboard of
    exactly those runs (your other evaluations stay out of it); ends with the total wall time."""
    import time

    from inpaintbench.bench import run_plan

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
    import datetime as dt

    from inpaintbench.regression import regress as run_regression
    from inpaintbench.report.leaderboard import git_commit, package_versions

    overrides = " ".join(o for o in _hydra_overrides() or [] if o != "rewrite_golden=true")
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    provenance = (
        "# Golden regression results\n\n"
        f"Written by `inpaintbench regress rewrite_golden=true {overrides}`"
        f" on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {git_commit(cfg.paths.repo)}.\n\n"
        f"Packages: {versions}.\n\nCompared by `inpaintbench regress` (run by `make test`) with the "
        "tolerances of conf/regress.yaml.\n"
    )
    code = run_regression(cfg, provenance)
    if code:
        raise SystemExit(code)
