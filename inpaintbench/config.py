"""Config composition shared by the CLI, the tests and the Python API.

The Hydra YAML lives in the repository's top-level `conf/`; `${ib.repo:}` resolves to the repository
root so configs can point at the embedded sample data wherever the command is started.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose as _hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"


def register_resolvers() -> None:
    """Idempotent: `${ib.repo:}` -> repository root."""
    if not OmegaConf.has_resolver("ib.repo"):
        OmegaConf.register_new_resolver("ib.repo", lambda: str(REPO_ROOT))


def compose(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with overrides (tests, API; inside a running `@hydra.main`
    command, with that command's Hydra, whose search path is conf/ too)."""
    register_resolvers()
    if GlobalHydra.instance().is_initialized():
        return _hydra_compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return _hydra_compose(config_name=config_name, overrides=list(overrides))


def default_paths(overrides: Sequence[str] = ()) -> DictConfig:
    """`conf/paths/default.yaml` plus any `paths.*=...` overrides, resolved without composing a command
    (for the commands and checks that need only where things are)."""
    register_resolvers()
    paths = OmegaConf.create({"paths": OmegaConf.load(CONF_DIR / "paths" / "default.yaml")})
    dotlist = [o for o in overrides if o.startswith("paths.")]
    return OmegaConf.merge(paths, OmegaConf.from_dotlist(dotlist)).paths


def to_plain(node: Any) -> Any:
    """DictConfig/ListConfig -> plain dicts and lists (what checkpoints and cards may hold)."""
    if isinstance(node, DictConfig) or OmegaConf.is_list(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def hydra_overrides() -> list[str] | None:
    """The overrides of the running Hydra job (recorded in model cards), or None outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return None
