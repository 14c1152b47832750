"""`inpaintbench train trainer=ddp devices=2`: two CPU ranks (gloo, spawned by Lightning) train a few
steps, hold identical weights afterwards, and export weights + card that load as after one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import tiny_train_cfg
from lightning.pytorch.callbacks import Callback

from inpaintbench import create_model
from inpaintbench.tasks import train as train_task
from inpaintbench.training.train import lightning_strategy, train
from inpaintbench.weights import load_weights
from inpaintbench.zoo import list_zoo, verify_entry


class SaveRankWeights(Callback):
    """Each rank saves its generator's weights when fit ends (module level: spawned ranks import it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_fit_end(self, trainer, pl_module) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def _cfg(tmp_path: Path, steps: int, *extra: str):
    return tiny_train_cfg(tmp_path, steps, "ddp", "trainer.progress_every=1", *extra)


def test_two_cpu_ranks_train_to_identical_weights_and_export_a_loadable_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 3, "trainer=ddp", "devices=2")
    entry = train(cfg, callbacks=(SaveRankWeights(tmp_path),))
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys() and any("running_mean" in k for k in rank0)
    assert [k for k in rank0 if not torch.equal(rank0[k], rank1[k])] == []  # parameters and BatchNorm buffers
    torch.manual_seed(0)
    initial = create_model("pconv_unet_tiny").state_dict()
    generator = {k.removeprefix("generator."): v for k, v in rank0.items() if k.startswith("generator.")}
    assert generator.keys() == initial.keys()
    assert any(not torch.equal(generator[k], initial[k]) for k in initial)  # and they trained
    assert entry.card["steps"] == 3 and entry.card["ranks"] == 2
    [listed] = list_zoo(tmp_path / "models")
    verify_entry(listed)
    model = create_model("pconv_unet_tiny")
    load_weights(model, entry.weights)
    assert all(torch.equal(model.state_dict()[k], generator[k]) for k in generator)  # the export is rank 0's
    assert (tmp_path / "runs" / "pconv_unet_tiny.ddp" / "checkpoints" / "last.ckpt").is_file()
    torch.load(tmp_path / "runs" / "pconv_unet_tiny.ddp" / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.parametrize(
    ("name", "world", "external", "expected"),
    [
        ("auto", 1, False, "auto"),
        ("ddp", 2, False, "ddp_spawn"),
        ("auto", 2, False, "ddp_spawn"),
        ("ddp", 2, True, "ddp"),
        ("ddp_spawn", 2, True, "ddp"),
    ],
)
def test_ranks_are_spawned_here_and_joined_under_torchrun(monkeypatch, name, world, external, expected) -> None:
    monkeypatch.setattr("inpaintbench.evaluation.distributed.external_launcher", lambda: external)
    assert lightning_strategy(name, world) == expected


def test_the_train_task_resolves_devices_into_the_trainer_config(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 1, "trainer=ddp", "devices=3", "num_nodes=2")
    assert (cfg.trainer.devices, cfg.trainer.num_nodes, cfg.trainer.strategy) == (3, 2, "ddp")
    assert callable(train_task)
