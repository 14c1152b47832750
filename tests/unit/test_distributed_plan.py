"""Which ranks an eval config asks for, and when torchrun / srun started them already."""

from __future__ import annotations

import pytest

from inpaintbench.config import compose
from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.distributed import external_launcher, rank_plan

LAUNCHER_ENV = ("TORCHELASTIC_RUN_ID", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_JOB_NAME", "SLURM_STEP_ID")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)


def test_one_process_by_default_and_the_accelerator_follows_the_device() -> None:
    plan = rank_plan(compose("eval"))
    assert (plan.accelerator, plan.devices, plan.num_nodes, plan.world_size, plan.distributed) == (
        "cpu",
        1,
        1,
        1,
        False,
    )
    gpus = rank_plan(compose("eval", ["device=cuda", "devices=4", "num_nodes=2"]))
    assert (gpus.accelerator, gpus.world_size, gpus.distributed) == ("cuda", 8, True)
    assert rank_plan(compose("eval", ["device=cuda:1", "accelerator=cpu"])).accelerator == "cpu"


def test_a_rank_count_below_one_is_one_line_naming_the_keys() -> None:
    with pytest.raises(InpaintbenchError, match="devices=0, num_nodes=1: both must be at least 1"):
        rank_plan(compose("eval", ["devices=0"]))


def test_torchrun_and_srun_with_several_ranks_are_joined_not_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not external_launcher()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not external_launcher()  # torchrun with one process: nothing to join
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert external_launcher() and rank_plan(compose("eval", ["devices=2"])).distributed
    assert rank_plan(compose("eval")).distributed  # joined even when devices was left at 1 (Lightning checks it)
