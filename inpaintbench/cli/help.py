"""`inpaintbench <command> --help` for the Hydra commands: what the command does, its main keys
with their defaults (and the comment beside each in conf/), the config groups with their choices,
and two examples. Built from the configs themselves, so it cannot drift from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class CommandDoc:
    """The prose part of a command's help page; keys and groups come from its config."""

    config: str
    summary: str
    details: str
    examples: tuple[str, str]


COMMAND_DOCS: dict[str, CommandDoc] = {
    "eval": CommandDoc(
        "eval",
        "score a model on a dataset and mask protocol (per-bin table)",
        "Evaluates `model` on `data` with the mask protocol `masks` and prints SSIM / PSNR / L1 / LPIPS /\n"
        "FID / KID per hole-ratio bin with bootstrap intervals. Results go to append-only shards under\n"
        "<paths.results>/runs/, so an interrupted run resumes. `model` is a config name or a zoo\n"
        "checkpoint as `inpaintbench zoo` prints it (<arch>.<tag>).",
        (
            "inpaintbench eval model=opencv_ns masks=irregular data=sample",
            "inpaintbench eval model=lama_tiny.sample_v1 masks=lama_thick limit=8",
        ),
    ),
    "train": CommandDoc(
        "train",
        "train a model from conf/model/<name>.yaml; resumes; exports .safetensors",
        "Trains `model` with its paper's recipe (Lightning, deterministic on the CPU), resuming from\n"
        "<paths.train_runs>/<model>.<tag>/ when run again, then exports the generator and a card to\n"
        "<paths.exports>/<model>.<tag>.safetensors (git-ignored; evaluate it with model=<model>.<tag>).\n"
        "Perceptual/style losses need VGG16 in the hub cache, or model.system.perceptual_backbone=none.",
        (
            "inpaintbench train model=pconv_unet_tiny data=sample_train trainer.max_steps=200 tag=try",
            "inpaintbench train model=lama_tiny model.system.perceptual_backbone=none tag=nopl",
        ),
    ),
    "report": CommandDoc(
        "report",
        "gather runs under results/ into leaderboard.csv / leaderboard.md",
        "Reads every finished run under <paths.results>/runs and writes leaderboard.csv (one tidy row\n"
        "per model, data, protocol, bin and metric) and leaderboard.md (per-bin tables with provenance)\n"
        "to <paths.leaderboard> (results/local/, git-ignored; `make leaderboard` writes results/).",
        ("inpaintbench report", "inpaintbench report paths.results=/scratch/ib"),
    ),
    "compare": CommandDoc(
        "compare",
        "paired bootstrap comparison of two models: compare A B",
        "Compares two finished runs on the same (image, mask) pairs with a paired bootstrap, per bin.\n"
        "A and B are names in results (model, or zoo checkpoint) on `data` / `masks`, or run directories.",
        (
            "inpaintbench compare opencv_telea opencv_ns masks=irregular",
            "inpaintbench compare lama_tiny.sample_v1 opencv_ns masks=lama_thick",
        ),
    ),
    "regress": CommandDoc(
        "regress",
        "re-evaluate the zoo and compare with results/golden (CI)",
        "Re-evaluates the committed zoo and the baselines on the first `limit` eval images in a scratch\n"
        "folder and compares every number, and every tiny architecture's forward pass, with\n"
        "results/golden/ under the tolerances below; exits 1 on drift. Run by `make test`.",
        ("inpaintbench regress", "inpaintbench regress rewrite_golden=true"),
    ),
    "bench": CommandDoc(
        "bench",
        "the default benchmark: zoo + baselines on the sample data",
        "Evaluates every checkpoint of the committed zoo (models/) and the baselines with each protocol\n"
        "(finished runs are reused), then writes the leaderboard of exactly those runs to\n"
        "<paths.leaderboard> (results/local/; `inpaintbench report` gathers every run instead).\n"
        "`make bench` runs it; `make leaderboard` regenerates the committed results/leaderboard.*.",
        ("inpaintbench bench", "inpaintbench bench protocols=[irregular] baselines=[opencv_ns] zoo=false"),
    ),
    "masks make": CommandDoc(
        "masks_make",
        "write a fixed mask set (PNGs + manifest.json) for one protocol",
        "Renders `count` masks of the protocol `masks` at height x width into <out>, with a manifest\n"
        "(protocol id and version, parameters, each file's sha256 and hole ratio) that `masks check`\n"
        "verifies. use_data=true names the masks after the image ids of `data`.",
        ("inpaintbench masks make masks=lama_thick count=100", "inpaintbench masks make masks=irregular count=6"),
    ),
}

_GROUP_ORDER = {"model": 0, "data": 1, "masks": 2, "metrics": 3, "trainer": 4, "paths": 5}
_KEY_LINE = re.compile(r"^([A-Za-z_]\w*):(.*?)(?:\s#\s?(.*))?$")


def _primary_chain(config: str) -> list[str]:
    """The command's config file and the primary configs it inherits (`defaults: [eval, _self_]`)."""
    from inpaintbench.config import CONF_DIR

    data = yaml.safe_load((CONF_DIR / f"{config}.yaml").read_text()) or {}
    parents = [d for d in data.get("defaults", []) if isinstance(d, str) and d != "_self_" and "/" not in d]
    return [c for parent in parents for c in _primary_chain(parent)] + [config]


def _file_comments(path: Path, comments: dict[str, str]) -> dict[str, str]:
    """Add the comment beside each top-level key of one YAML file to `comments`."""
    for line in path.read_text().splitlines():
        match = _KEY_LINE.match(line)
        if match and match[1] != "defaults" and match[3]:
            comments[match[1]] = match[3].strip()
    return comments


def _comments(config: str) -> dict[str, str]:
    """The comment beside each top-level key of the command's config files (later files win)."""
    from inpaintbench.config import CONF_DIR

    comments: dict[str, str] = {}
    for name in _primary_chain(config):
        _file_comments(CONF_DIR / f"{name}.yaml", comments)
    return comments


def _group_comments(group: str, choice: str) -> dict[str, str]:
    from inpaintbench.config import CONF_DIR

    return _file_comments(CONF_DIR / group / f"{choice}.yaml", {})


def _composed(config: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The command's config (unresolved) and its config group choices."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from inpaintbench.config import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config, return_hydra_config=True)
    choices = {str(k): str(v) for k, v in cfg.hydra.runtime.choices.items() if "/" not in str(k) and k != "hydra"}
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra", None)
    return plain, choices


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def render_help(command: str) -> str:
    """The help page of a Hydra command (`eval`, `train`, ..., `masks make`)."""
    from inpaintbench.cli.overrides import CHECKPOINT_CONFIGS, group_choices, zoo_checkpoints

    doc = COMMAND_DOCS[command]
    cfg, choices = _composed(doc.config)
    comments = _comments(doc.config)
    lines = [f"inpaintbench {command}: {doc.summary}", "", doc.details, ""]
    usage = "inpaintbench compare A B" if command == "compare" else f"inpaintbench {command}"
    lines += [f"usage: {usage} [key=value ...] [-m] [--cfg job] [--help]", "", "main keys (default):"]
    for key, value in cfg.items():
        if key in choices:
            continue
        shown = f"{key}.*" if isinstance(value, dict) else f"{key}={_show(value)}"
        comment = comments.get(key, "")
        lines.append(f"  {shown:<36} {comment}".rstrip())
    if "paths" in cfg:
        path_comments = _group_comments("paths", choices.get("paths", "default"))
        for key, value in cfg["paths"].items():
            lines.append(f"  {f'paths.{key}={_show(value)}':<36} {path_comments.get(key, '')}".rstrip())
    lines += ["", "config groups (default; choices), e.g. masks=lama_thick; keys inside as masks.resolution=512:"]
    for group, default in sorted(choices.items(), key=lambda item: _GROUP_ORDER.get(item[0], 99)):
        options = group_choices(group)
        if group == "model" and doc.config in CHECKPOINT_CONFIGS:
            options += zoo_checkpoints()
        lines.append(f"  {f'{group}={default}':<36} {', '.join(options)}")
    lines += ["", "examples:", *(f"  {example}" for example in doc.examples), ""]
    lines.append("--cfg job prints the resolved config; -m sweeps comma-separated choices (Hydra multirun);")
    lines.append("--hydra-help lists Hydra's own flags. Config files: conf/ (https://hydra.cc for the syntax).")
    return "\n".join(lines)
