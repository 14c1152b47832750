"""One evaluation over N ranks (processes, GPUs, machines) that writes the same table as one process.

Engine: torch.distributed through Lightning Fabric, never a home-made pool. `devices=N` on one
machine starts N ranks with torch.multiprocessing spawn (Fabric's DDP strategy with
`start_method="spawn"`): Lightning's default launcher re-executes `sys.argv`, which cannot restart a
Hydra app behind our `inpaintbench COMMAND` dispatcher. Under torchrun / TorchElastic or srun the
launcher has already started every rank, and Fabric's cluster environments only join them.

A run, with the shard (results.py: fixed sample range, atomic files) as the unit of work:
1. rank 0 hashes every input file and opens the run directory (run.json, manifest.json; an interrupted
   run whose files changed is refused as in one process); barrier; the other ranks hash the files
   too and join that directory (inputs that hash to another run are refused);
2. rank 0 lists the shards not on disk and broadcasts the list; rank r takes pending[r::N], so a fresh
   run gives shard k to rank k mod N and a resumed one deals what is left evenly. Whole shards only:
   no padding and no sample twice (unlike a DistributedSampler, Lightning issue 7929). The dealing
   decides who computes what; each shard is still claimed under its lock (runner.run_shards), which
   only matters when another command evaluates the same run at the same time;
3. each rank writes its own shard files; rank 0 shows one bar of global progress, counted from the
   shard files in the shared results directory;
4. barrier; rank 0 checks every shard and aggregates with the single-process code, prints the table.
A shard's bytes do not depend on which rank wrote it, so 1 and N processes give byte-identical
shards, summary and leaderboard, and the world size is not part of the run hash.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.runner import (
    EvalContext,
    EvalOutcome,
    aggregate,
    efficiency_of,
    open_run,
    pending_shards,
    run_shards,
    samples_in,
)
from inpaintbench.metrics.aggregate import Summary
from inpaintbench.registry import UnknownNameError
from inpaintbench.results import RunStore

#: the errors a user can act on; a rank prints them as one line (as the CLI does) and exits 2
USER_ERRORS = (InpaintbenchError, UnknownNameError, FileNotFoundError)


class RankFailedError(InpaintbenchError):
    """A rank died or lost its peers; every shard finished so far stays on disk for the rerun."""


@dataclass(frozen=True)
class RankPlan:
    """How many ranks, where: `devices` per machine x `num_nodes`; `external` when torchrun/srun started them."""

    accelerator: str
    devices: int
    num_nodes: int = 1
    external: bool = False
    timeout_min: float = 720.0

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @property
    def distributed(self) -> bool:
        return self.external or self.world_size > 1


def external_launcher() -> bool:
    """True when torchrun / TorchElastic or SLURM's srun started this process as one of several ranks."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect():
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    return SLURMEnvironment.detect() and int(os.environ.get("SLURM_NTASKS", "1")) > 1


def rank_plan(cfg: Any) -> RankPlan:
    """The ranks an eval config asks for: `accelerator` (null follows `device`), `devices`, `num_nodes`."""
    device = str(cfg.get("device", "cpu"))
    accelerator = cfg.get("accelerator") or ("cuda" if device.startswith("cuda") else device)
    devices, num_nodes = int(cfg.get("devices", 1)), int(cfg.get("num_nodes", 1))
    if devices < 1 or num_nodes < 1:
        raise InpaintbenchError(f"devices={devices}, num_nodes={num_nodes}: both must be at least 1")
    return RankPlan(str(accelerator), devices, num_nodes, external_launcher(), float(cfg.get("rank_timeout_min", 720)))


class Ranks:
    """This process's place among the ranks, over a launched Fabric; collective failures become one line."""

    def __init__(self, fabric: Any, spawned: bool) -> None:
        self.fabric = fabric
        self.rank = int(fabric.global_rank)
        self.world_size = int(fabric.world_size)
        self.spawned = spawned  # started by `launch` here: results go back to the launching process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _collective(self, action: Callable[[], Any], where: str) -> Any:
        try:
            return action()
        except RuntimeError as error:  # gloo: "Connection closed by peer"; NCCL: watchdog timeout
            raise RankFailedError(
                f"rank {self.rank} of {self.world_size}: another rank stopped before {where} ({str(error)[:200]}); "
                "every finished shard is on disk: run the same command again to resume"
            ) from None

    def barrier(self, where: str) -> None:
        self._collective(self.fabric.barrier, where)

    def broadcast(self, obj: Any, where: str) -> Any:
        return self._collective(lambda: self.fabric.broadcast(obj, src=0), where)


@contextmanager
def global_progress(
    store: RunStore, n_samples: int, shard_size: int, desc: str, enabled: bool, interval: float = 1.0
) -> Iterator[None]:
    """Rank 0's one bar: samples in the shard files on disk (every rank's), polled every `interval` s."""
    if not enabled:
        yield
        return
    total_shards = -(-n_samples // shard_size)

    def on_disk() -> int:
        return n_samples - samples_in(pending_shards(store, n_samples, shard_size))

    bar = tqdm(total=n_samples, initial=on_disk(), desc=desc, unit="sample")
    stop = threading.Event()

    def show() -> None:
        bar.n = on_disk()
        bar.set_postfix_str(f"{len(store.done_shards())}/{total_shards} shards", refresh=True)

    def poll() -> None:
        while not stop.wait(interval):
            show()

    thread = threading.Thread(target=poll, name="ib-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        show()
        bar.close()


def evaluate_ranks(
    ctx: EvalContext,
    ranks: Ranks,
    results_root: str | Path,
    data_name: str,
    resolved_config: Mapping[str, Any],
    weights_sha256: str | None = None,
    efficiency: str | bool = "auto",
) -> EvalOutcome | None:
    """This rank's share of one evaluation; returns the outcome on rank 0 and None on the others."""
    if ranks.is_main:
        store, samples = open_run(ctx, results_root, data_name, resolved_config, weights_sha256)
    ranks.barrier("the run directory was created")
    if not ranks.is_main:
        store, samples = open_run(ctx, results_root, data_name, resolved_config, weights_sha256, join=True)
    pending = ranks.broadcast(
        pending_shards(store, len(samples), ctx.shard_size, ctx) if ranks.is_main else None, "the shards were dealt"
    )
    mine = pending[ranks.rank :: ranks.world_size]
    desc = f"eval {ctx.model_name} ({ranks.world_size} ranks)"
    with global_progress(store, len(samples), ctx.shard_size, desc, ranks.is_main and ctx.progress):
        run_shards(ctx, store, samples, mine)
        ranks.barrier("every rank finished its shards")
    if not ranks.is_main:
        return None
    missing = pending_shards(store, len(samples), ctx.shard_size)
    if missing:  # a shared results directory that is not shared (e.g. node-local paths.results)
        raise RankFailedError(
            f"{store.shard_dir}: shards {[k for k, _, _ in missing[:5]]} are missing after every rank finished; "
            "paths.results must be one directory that every rank sees"
        )
    return EvalOutcome(aggregate(ctx, store, samples), store, efficiency_of(ctx, store, efficiency))


def launch(plan: RankPlan, function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(ranks, *args)` on every rank of `plan`; return rank 0's result to this process.

    Started here (devices x num_nodes on this machine, spawned) or joined (torchrun, srun). A rank
    that dies (kill -9, out of memory) or raises fails the whole launch with one line naming it.
    """
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    timeout = dt.timedelta(minutes=plan.timeout_min)
    start_method = "popen" if plan.external else "spawn"
    fabric = Fabric(
        accelerator=plan.accelerator,
        devices=plan.devices,
        num_nodes=plan.num_nodes,
        strategy=DDPStrategy(start_method=start_method, timeout=timeout),
    )
    if plan.external:
        return fabric.launch(_on_rank, function, args, False)
    with _local_rendezvous():
        return _spawned(fabric, plan, function, args)


def _spawned(fabric: Any, plan: RankPlan, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException

    try:
        return fabric.launch(_on_rank, function, args, True)
    except ProcessExitedException as error:
        if error.exit_code == 2 and not error.signal_name:  # the rank printed its one-line user error
            raise SystemExit(2) from None
        how = f"was killed by {error.signal_name}" if error.signal_name else f"exited with status {error.exit_code}"
        raise RankFailedError(
            f"rank {error.error_index} of {plan.world_size} {how}; the other ranks were stopped and every finished "
            "shard is on disk: run the same command again to resume"
        ) from None
    except ProcessRaisedException as error:
        last = str(error).strip().splitlines()[-1]
        raise RankFailedError(
            f"rank {error.error_index} of {plan.world_size} failed: {last}; every finished shard is on disk"
        ) from None


def _local_rendezvous() -> Any:
    """A fresh free port on 127.0.0.1 for ranks spawned on this machine; the environment is restored after."""
    from unittest import mock

    from lightning.fabric.plugins.environments.lightning import find_free_network_port

    return mock.patch.dict(os.environ, {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(find_free_network_port())})


def _on_rank(fabric: Any, function: Callable[..., Any], args: tuple[Any, ...], spawned: bool) -> Any:
    ranks = Ranks(fabric, spawned)
    try:
        return function(ranks, *args)
    except USER_ERRORS as error:
        if not spawned:
            raise  # joined ranks (torchrun, srun) run the CLI, which prints the line
        print(f"inpaintbench: error (rank {ranks.rank} of {ranks.world_size}): {error}", file=sys.stderr)
        raise SystemExit(2) from None


def evaluate_config(cfg: Any) -> EvalOutcome | None:
    """`inpaintbench eval` over the ranks of `cfg` (see rank_plan); rank 0's outcome, None on other ranks."""
    from omegaconf import OmegaConf

    plan = rank_plan(cfg)
    if not plan.distributed:
        return _evaluate_rank(None, cfg)
    result = launch(plan, _evaluate_rank, OmegaConf.to_container(cfg, resolve=True))
    if plan.external:
        return result
    store = RunStore(Path(result))  # spawned ranks return the run directory; the table is on disk
    summary = Summary.from_json(store.read_json("summary.json"))
    return EvalOutcome(summary, store, store.read_json("efficiency.json"))


def _evaluate_rank(ranks: Ranks | None, cfg: Any) -> Any:
    from omegaconf import OmegaConf

    from inpaintbench.evaluation.runner import build_context, evaluate_context

    cfg = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if ranks is not None:  # each rank on its own device (cuda:<local rank>); the run hash keeps the type
        cfg = OmegaConf.merge(cfg, {"device": str(ranks.fabric.device)})
    ctx, weights_sha = build_context(cfg)
    args = (Path(str(cfg.paths.results)), str(cfg.data.name), resolved, weights_sha, cfg.get("efficiency", "auto"))
    if ranks is None:
        return evaluate_context(ctx, *args)
    outcome = evaluate_ranks(ctx, ranks, *args)
    if outcome is None:
        return None
    # a spawned rank 0 hands back only the run directory: a large pickle through the launcher's queue
    # would block before the processes are joined
    return str(outcome.store.path) if ranks.spawned else outcome
