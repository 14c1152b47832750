"""A Hydra command line checked before Hydra sees it.

Hydra answers an unknown config group choice (`model=pconv_unet_tny`) with a page of search-path
details; here it becomes one line with did-you-mean suggestions (exit status 2 in the CLI). A zoo
checkpoint name as printed by `inpaintbench zoo` (`model=<arch>.<tag>`) is accepted by `eval` and
becomes `model=<arch> checkpoint=<arch>.<tag>`: the task then loads that checkpoint's weights and
card arguments and names its results after it (see `zoo.resolve_checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence

from inpaintbench.config import CONF_DIR, default_paths
from inpaintbench.errors import InpaintbenchError
from inpaintbench.registry import unknown_name_message

#: commands whose `model=` also accepts zoo checkpoint names
CHECKPOINT_CONFIGS = ("eval",)


def config_groups() -> list[str]:
    """The config groups under conf/ (model, data, masks, ...); not `recipe`, which model configs select."""
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "recipe" and any(p.glob("*.yaml")))


def group_choices(group: str) -> list[str]:
    """The options of a config group: the file names of conf/<group>/*.yaml (`_*.yaml`: shared parts)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def zoo_checkpoints(overrides: Sequence[str] = ()) -> list[str]:
    """Names of the committed zoo and of your exports (honouring `paths.*` overrides)."""
    from inpaintbench.zoo import zoo_names

    paths = default_paths(overrides)
    return zoo_names([paths.models, paths.exports])


def is_override(arg: str) -> bool:
    """`key=value` and `~key` are overrides; flags (`-m`, `--cfg job`) and their values are not."""
    return not arg.startswith("-") and ("=" in arg or arg.startswith("~"))


def prepare(config_name: str, args: Sequence[str]) -> list[str]:
    """Check every config group choice among `args`; resolve zoo names for `eval`. Raises
    InpaintbenchError (one line) for an unknown choice; returns the arguments to hand to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for a in args if is_override(a)]
    try:
        parsed = dict(zip(overrides, OverridesParser.create().parse_overrides(overrides), strict=True))
    except HydraException as error:
        raise InpaintbenchError(" ".join(str(error).split())) from None
    groups = set(config_groups())
    checkpoints: list[str] | None = None
    out: list[str] = []
    for arg in args:
        override = parsed.get(arg)
        group = override.key_or_group if override is not None else ""
        if override is None or override.is_delete() or group not in groups:
            out.append(arg)
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        known = group_choices(group)
        allow_zoo = group == "model" and config_name in CHECKPOINT_CONFIGS
        if allow_zoo and checkpoints is None:
            checkpoints = zoo_checkpoints(overrides)
        zoo = checkpoints if allow_zoo and checkpoints else []
        for value in values:
            if value is not None and str(value) not in known and str(value) not in zoo:
                raise InpaintbenchError(unknown_name_message(group, str(value), [*known, *zoo]))
        named = [str(v) for v in values if str(v) in zoo and str(v) not in known]
        if not named:
            out.append(arg)
        elif override.is_sweep_override():
            raise InpaintbenchError(
                f"{arg}: zoo checkpoints cannot be swept with -m; run one `inpaintbench eval model=<name>` each "
                "(or `inpaintbench bench`)"
            )
        else:
            out += [f"model={named[0].split('.', 1)[0]}", f"checkpoint={named[0]}"]
    return out
