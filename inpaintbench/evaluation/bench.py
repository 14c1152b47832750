"""The default benchmark plan: zoo checkpoints + classical baselines x protocols, one eval each.

`inpaintbench bench` and `inpaintbench regress` share it: each item becomes an ordinary eval config
(the bench config with its model, masks and weights swapped), so a benchmark number is exactly what
`inpaintbench eval` would print for the same model and protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from inpaintbench.config import CONF_DIR, compose
from inpaintbench.errors import InpaintbenchError
from inpaintbench.zoo import entry_for_weights, find_entry, list_zoo, verify_entry, zoo_names


@dataclass(frozen=True)
class BenchItem:
    """One (model, protocol) evaluation: `name` is what tables show (`arch.tag` for zoo weights)."""

    name: str
    arch: str
    protocol: str
    weights: Path | None = None
    args: dict[str, Any] | None = None  # a zoo card's architecture arguments override the config's


def load_group(group: str, name: str) -> DictConfig:
    """`conf/<group>/<name>.yaml` as a config node, its defaults list (a model's recipe) applied."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_")))
        raise InpaintbenchError(f"no config {group}/{name}.yaml (known: {known})")
    node = compose(f"{group}/{name}")[group]
    OmegaConf.set_struct(node, False)
    return node


def plan(cfg: DictConfig) -> list[BenchItem]:
    """Zoo checkpoints (if `cfg.zoo`) first, then baselines, each with every protocol."""
    models: list[tuple[str, str, Path | None, dict[str, Any] | None]] = []
    if cfg.zoo:
        for entry in list_zoo(cfg.paths.models):
            verify_entry(entry)
            models.append((entry.name, entry.arch, entry.weights, dict(entry.card.get("args") or {})))
    models += [(name, name, None, None) for name in cfg.baselines]
    return [
        BenchItem(name, arch, protocol, weights, args)
        for name, arch, weights, args in models
        for protocol in cfg.protocols
    ]


def with_model(
    cfg: DictConfig, arch: str, run_name: str | None, weights: Path | None, args: dict[str, Any] | None
) -> DictConfig:
    """`cfg` with its model replaced by conf/model/<arch>.yaml (args from a card when given)."""
    model = load_group("model", arch)
    if model.get("name") != arch:
        raise InpaintbenchError(f"conf/model/{arch}.yaml names model '{model.get('name')}'")
    item_cfg = OmegaConf.merge(cfg, {"run_name": run_name, "weights": str(weights) if weights else None})
    if args is not None:
        model.args = args
    item_cfg.model = model
    return item_cfg


def eval_config(cfg: DictConfig, item: BenchItem) -> DictConfig:
    """The bench config turned into the eval config of one item."""
    item_cfg = with_model(cfg, item.arch, item.name, item.weights, item.args)
    item_cfg.masks = load_group("masks", item.protocol)
    return item_cfg


def resolve_checkpoint(cfg: DictConfig) -> DictConfig:
    """A zoo checkpoint evaluated by its name: `checkpoint=<arch>.<tag>` (what `model=<arch>.<tag>`
    becomes on the command line) loads its verified weights and card arguments, and its results
    carry that name. Weights given as a file with its card beside it are named after the card too,
    so the same weights never appear in a leaderboard under two names."""
    name = cfg.get("checkpoint")
    if name:
        folders = [cfg.paths.models, cfg.paths.get("exports")]
        entry = find_entry(str(name), [f for f in folders if f])
        if entry is None:
            known = zoo_names([f for f in folders if f])
            raise InpaintbenchError(
                f"checkpoint '{name}' is in neither {' nor '.join(map(str, folders))}"
                f" (known: {', '.join(known) or 'none'})"
            )
    elif cfg.get("weights") and not cfg.get("run_name"):
        entry = entry_for_weights(str(cfg.weights))
        if entry is None or entry.arch != cfg.model.name:
            return cfg
    else:
        return cfg
    verify_entry(entry)
    args = dict(entry.card.get("args") or {})
    return with_model(cfg, entry.arch, cfg.get("run_name") or entry.name, entry.weights, args)


def sample_counts(cfg: DictConfig, items: list[BenchItem]) -> list[int]:
    """How many (image, mask) pairs each item evaluates: the weights of the overall progress bar."""
    from inpaintbench.data import build_dataset
    from inpaintbench.masks import get_protocol

    ids = list(build_dataset(cfg.data).ids)
    if cfg.get("limit"):
        ids = ids[: int(cfg.limit)]
    protocols = {item.protocol for item in items}
    counts = {p: sum(1 for _ in get_protocol(load_group("masks", p)).samples(ids)) for p in protocols}
    return [counts[item.protocol] for item in items]
