"""Sweeps through Hydra launchers: joblib runs the jobs in parallel worker processes, submitit submits
them to SLURM (its local executor runs the same path here); the shipped SLURM config maps one task to
one rank and keeps partition, GPUs per task and time limit overridable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import OmegaConf

from inpaintbench.config import CONF_DIR, register_resolvers

REPO = Path(__file__).resolve().parents[2]


def test_the_slurm_launcher_config_maps_ranks_to_tasks_and_keeps_its_keys_overridable() -> None:
    register_resolvers()
    overrides = [
        "hydra/launcher=slurm",
        "devices=4",
        "num_nodes=2",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_task=1",
        "hydra.launcher.timeout_min=30",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    picked = {k: launcher[k] for k in ("partition", "gpus_per_task", "timeout_min", "tasks_per_node", "nodes")}
    assert picked == {"partition": "gpu", "gpus_per_task": 1, "timeout_min": 30, "tasks_per_node": 4, "nodes": 2}
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"
    schema = OmegaConf.structured(get_class("hydra_plugins.hydra_submitit_launcher.config.SlurmQueueConf"))
    assert set(OmegaConf.to_container(launcher)) == set(schema)  # every key of the plugin's schema, no other


def _sweep(tmp_path: Path, launcher: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "inpaintbench.cli",
        "eval",
        "-m",
        "model=opencv_ns,opencv_telea",
        "masks=irregular,lama_thick",
        f"hydra/launcher={launcher}",
        "limit=1",
        "progress=false",
        f"paths.results={tmp_path / 'results'}",
        "metrics.bootstrap.resamples=50",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=True)


def _finished_runs(results: Path) -> set[tuple[str, str]]:
    return {(p.parts[-5], p.parts[-4]) for p in results.glob("runs/*/*/*/*/summary.json")}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_sweep_runs_every_job_through_the_launcher(tmp_path: Path, launcher: str) -> None:
    done = _sweep(tmp_path, launcher)
    expected = {(m, p) for m in ("opencv_ns", "opencv_telea") for p in ("irregular_v1_seed0", "lama_thick_v1_seed0")}
    assert _finished_runs(tmp_path / "results") == expected
    if launcher == "joblib":
        assert "Joblib.Parallel(n_jobs=-1" in done.stdout + done.stderr  # parallel worker processes
