"""The evaluation settings of a config, range-checked before any work starts.

A bad value is one line naming the key, the value and the rule (exit status 2 through the CLI),
never an empty table, a ZeroDivisionError or a silently different run (`limit=0` used to evaluate
everything, `limit=-2` all but two).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from inpaintbench.errors import InpaintbenchError

#: `changed_inputs`: what to do when an interrupted run's files changed before the rerun.
CHANGED_INPUTS = ("refuse", "recompute")

#: `num_workers=auto` with a CUDA device.
AUTO_CUDA_WORKERS = 4

#: `weights=none`: evaluate a learned model with its seeded random initialisation, on purpose.
UNTRAINED = "none"


class SettingError(InpaintbenchError, ValueError):
    """A configuration value out of range; the message names the key."""


@dataclass(frozen=True)
class EvalSettings:
    batch_size: int
    shard_size: int
    limit: int | None
    seed: int
    device: torch.device
    changed_inputs: str
    weights: str | None  # a file, UNTRAINED, or None (allowed only for non-learned models)
    num_workers: int = 0  # loader processes (`auto` resolved for the device)
    compile: bool = False  # torch.compile the model (archs.inference); in the run hash (may move bits)

    @property
    def untrained(self) -> bool:
        return self.weights == UNTRAINED


def integer(cfg: Mapping[str, Any], key: str, default: Any, minimum: int, allow_none: bool = False) -> int | None:
    """`cfg[key]` as an int >= minimum (or None when allowed); SettingError naming the key otherwise."""
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(f"{key}={value!r}: must be an integer >= {minimum}")
    if value < minimum:
        raise SettingError(f"{key}={value}: must be >= {minimum}")
    return value


def check_device(name: str) -> torch.device:
    """The device of `device=...`, refused when it does not exist on this machine."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise SettingError(f"device={name!r}: not a torch device (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingError(f"device={name}: no CUDA GPU is visible on this machine; use device=cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SettingError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise SettingError(f"device={name}: MPS is not available on this machine; use device=cpu")
    return device


def eval_settings(cfg: Mapping[str, Any]) -> EvalSettings:
    """Every numeric and choice setting of an eval config, checked."""
    changed = cfg.get("changed_inputs", "refuse")
    if changed not in CHANGED_INPUTS:
        raise SettingError(f"changed_inputs={changed!r}: must be one of {', '.join(CHANGED_INPUTS)}")
    weights = cfg.get("weights")
    device = check_device(str(cfg.get("device", "cpu")))
    compile_model = cfg.get("compile", False)
    if not isinstance(compile_model, bool):
        raise SettingError(f"compile={compile_model!r}: must be true or false")
    return EvalSettings(
        batch_size=batch_size(cfg, device),
        shard_size=int(integer(cfg, "shard_size", 64, 1)),
        limit=integer(cfg, "limit", None, 1, allow_none=True),
        seed=int(integer(cfg, "seed", 0, 0)),
        device=device,
        changed_inputs=str(changed),
        weights=None if weights is None else str(weights),
        num_workers=workers(cfg, device),
        compile=compile_model,
    )


def workers(cfg: Mapping[str, Any], device: torch.device) -> int:
    """`num_workers` (loader processes, evaluation/loader.py): an integer >= 0, or `auto`: none on
    the CPU, whose cores are busy computing (one worker measured no faster: results/benchmarks/eval_loader.md),
    up to `AUTO_CUDA_WORKERS` with a GPU, where the CPU is free to decode ahead."""
    if cfg.get("num_workers", "auto") == "auto":
        return min(AUTO_CUDA_WORKERS, os.cpu_count() or 1) if device.type == "cuda" else 0
    return int(integer(cfg, "num_workers", "auto", 0))


def batch_size(cfg: Mapping[str, Any], device: torch.device) -> int:
    """`batch_size`: an integer >= 1, or `auto` (8 on a CPU, 16 on a GPU: archs.inference.default_batch_size)."""
    if cfg.get("batch_size", "auto") == "auto":
        from inpaintbench.archs.inference import default_batch_size

        return default_batch_size(device)
    return int(integer(cfg, "batch_size", "auto", 1))


def check_weights(settings: EvalSettings, model_name: str, learned: bool) -> None:
    """A learned model needs weights, or an explicit `weights=none`; other inpainters take none."""
    if learned and settings.weights is None:
        raise SettingError(
            f"weights: model '{model_name}' is learned; pass weights=FILE, or weights=none to evaluate its "
            "untrained initialisation on purpose (recorded as '.untrained')"
        )
    if not learned and settings.weights not in (None, UNTRAINED):
        raise SettingError(f"weights={settings.weights}: model '{model_name}' is not learned and takes no weights")
