"""`inpaintbench train`: build the paper's recipe (a registered LightningModule) and run Lightning.

The run directory is a pure function of (model, tag), so rerunning the same command resumes from
`checkpoints/last.ckpt`. Training ends with the generator exported in the zoo layout
(`<paths.exports>/<model>.<tag>.safetensors` + card, outside the committed `models/`), ready for
`inpaintbench eval model=<model>.<tag>`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import shlex
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig

from inpaintbench.config import to_plain
from inpaintbench.errors import InpaintbenchError
from inpaintbench.io.hashing import sha256_file
from inpaintbench.training.systems.base import SYSTEMS, InpaintingSystem
from inpaintbench.zoo import ZooEntry, card_path, export_generator


class _NoAdverts(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger/litmodels" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


def quiet_lightning() -> None:
    """Each Lightning message once, and no advertisements. Lightning gives its `lightning` logger its
    own console handler and also lets records reach the root logger, which Hydra has configured, so
    every line printed twice; keep Hydra's (it also writes the job's log file). Idempotent."""
    package = logging.getLogger("lightning")
    if logging.getLogger().handlers:
        for handler in list(package.handlers):
            if type(handler) is logging.StreamHandler:
                package.removeHandler(handler)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def build_system(model_cfg: DictConfig | dict) -> InpaintingSystem:
    """`conf/model/<name>.yaml` -> the registered LightningModule, from plain values only."""
    model = to_plain(model_cfg)
    if not model.get("system"):
        raise InpaintbenchError(f"model '{model['name']}' has no training recipe (system) in its config")
    system_args = dict(model["system"])
    system_name = system_args.pop("name")
    from inpaintbench.training.systems import load_systems

    load_systems()
    return SYSTEMS.get(system_name)(arch=model["name"], arch_args=dict(model.get("args") or {}), **system_args)


def run_dir_for(cfg: DictConfig) -> Path:
    return Path(cfg.paths.train_runs) / f"{cfg.model.name}.{cfg.tag}"


def lightning_strategy(name: str, world_size: int) -> str:
    """The Trainer strategy for `name`: Lightning's `ddp` restarts `sys.argv` in every child, which
    cannot restart a Hydra app behind our `inpaintbench COMMAND` dispatcher, so ranks started here are
    spawned (`ddp_spawn`, the same DDP); under torchrun / srun the ranks exist already and `ddp` joins them."""
    from inpaintbench.evaluation.distributed import external_launcher

    external = external_launcher()
    if name in ("auto", "ddp") and world_size > 1 and not external:
        return "ddp_spawn"
    if name == "ddp_spawn" and external:
        return "ddp"
    return name


class ExportOnFitEnd(Callback):
    """Global rank 0 records the wall time and exports generator + card when fit ends, in whichever
    process that rank lives (this one, or a DDP rank spawned by `devices=N`)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, command: str | None) -> None:
        self.cfg, self.run_dir, self.command = cfg, run_dir, command
        self.started = 0.0
        self.entry: ZooEntry | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, system: InpaintingSystem) -> None:
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            # DDP hands rank 0's buffers (BatchNorm running statistics) to every rank at each forward, so
            # after the last step each rank holds its own; make the replicas identical, as exported
            for buffer in system.buffers():
                torch.distributed.broadcast(buffer.data, src=0)
        if not trainer.is_global_zero:
            return
        _record_wall_time(self.run_dir, time.perf_counter() - self.started)
        if not self.cfg.export:
            return
        batches = trainer.fit_loop.epoch_loop.batch_progress.total.completed
        card = _card(self.cfg, system, trainer.global_step, batches, self.run_dir, self.command)
        card["ranks"] = trainer.world_size
        exports = Path(self.cfg.paths.exports)
        self.entry = export_generator(system.generator_state_dict(), exports, self.cfg.model.name, self.cfg.tag, card)


def train(cfg: DictConfig, command: str | None = None, callbacks: tuple[Callback, ...] = ()) -> ZooEntry | None:
    """Train (or resume) and export; returns the exported zoo entry (None when export is off).

    `trainer.devices` x `trainer.num_nodes` > 1 trains with DDP (gloo on CPU, NCCL on GPU); `callbacks`
    are added to the Trainer's (tests use them to look inside spawned ranks)."""
    from omegaconf import OmegaConf

    from inpaintbench.training.datamodule import InpaintDataModule

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))  # spawned ranks lack our resolvers
    quiet_lightning()
    L.seed_everything(int(cfg.seed), workers=True)
    system = build_system(cfg.model)
    datamodule = InpaintDataModule(
        data=cfg.data,
        train_masks=to_plain(cfg.model.train_masks),
        batch_size=int(cfg.batch_size),
        num_workers=int(cfg.num_workers),
        seed=int(cfg.seed),
    )
    run_dir = run_dir_for(cfg)
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=int(cfg.trainer.checkpoint_every),
    )
    exporter = ExportOnFitEnd(cfg, run_dir, command)
    num_nodes = int(cfg.trainer.get("num_nodes", 1))
    world_size = int(cfg.trainer.devices) * num_nodes if str(cfg.trainer.devices).isdigit() else 1
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=num_nodes,
        strategy=lightning_strategy(str(cfg.trainer.strategy), world_size),
        precision=cfg.trainer.precision,
        max_steps=int(cfg.trainer.max_steps),
        deterministic=cfg.trainer.deterministic,
        log_every_n_steps=int(cfg.trainer.log_every),
        default_root_dir=str(run_dir),
        logger=CSVLogger(str(run_dir), name="logs"),
        callbacks=[checkpoints, TQDMProgressBar(refresh_rate=int(cfg.trainer.progress_every)), exporter, *callbacks],
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    resume_from = str(last) if cfg.resume and last.exists() else None
    trainer.fit(system, datamodule=datamodule, ckpt_path=resume_from)
    if not cfg.export or trainer.global_rank != 0:
        return None
    if exporter.entry is not None:
        return exporter.entry
    weights = Path(cfg.paths.exports) / f"{cfg.model.name}.{cfg.tag}.safetensors"  # written by a spawned rank 0
    return ZooEntry(weights, yaml.safe_load(card_path(weights).read_text()))


def _record_wall_time(run_dir: Path, seconds: float) -> None:
    """Wall time accumulates over resumed sessions, so the card reports the whole training."""
    path = run_dir / "wall_time.json"
    previous = json.loads(path.read_text())["seconds"] if path.exists() else 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seconds": previous + seconds}))


def _card(
    cfg: DictConfig, system: InpaintingSystem, steps: int, batches: int, run_dir: Path, command: str | None
) -> dict[str, Any]:
    """`steps` counts optimiser steps (a GAN's critic steps included, as Lightning's max_steps does)."""
    manifest = Path(str(cfg.data.get("manifest") or ""))
    wall = json.loads((run_dir / "wall_time.json").read_text())["seconds"]
    return {
        "args": to_plain(cfg.model.args) or {},
        "system": _resolved_system(cfg, system),
        "losses": system.loss_weights(),
        "train_masks": to_plain(cfg.model.train_masks),
        "data": {
            "name": cfg.data.name,
            "root": _relative_to_repo(Path(str(cfg.data.root)), Path(str(cfg.paths.repo))),
            "manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
        },
        "steps": int(steps),
        "batches": int(batches),
        "batch_size": int(cfg.batch_size),
        "seed": int(cfg.seed),
        "wall_time_s": round(wall, 1),
        "device": f"{cfg.trainer.accelerator} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)",
        "torch": str(torch.__version__),
        "lightning": str(L.__version__),
        "parameters": sum(p.numel() for p in system.generator.parameters()),
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or f"inpaintbench train model={cfg.model.name} tag={cfg.tag}",
    }


def _resolved_system(cfg: DictConfig, system: InpaintingSystem) -> dict[str, Any]:
    """The recipe as configured, with each value the system resolved (e.g. `parametrisation: auto`) as used."""
    configured = to_plain(cfg.model.system)
    return {key: system.hparams.get(key, value) for key, value in configured.items()}


def _relative_to_repo(path: Path, repo: Path) -> str:
    """Cards travel with the repository: a path inside it is written relative to it."""
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(path)


def reproduce_command(overrides: list[str]) -> str:
    return "inpaintbench train " + " ".join(shlex.quote(o) for o in overrides)
