"""Shared test settings and fixtures: CPU only, few threads (CI has 2 cores), quiet Lightning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a shared CPU OpenMP spin-waits cost 10-100x.

    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def standin_vgg(tmp_path_factory) -> str:
    """A random-init VGG16 (up to pool3) saved in torchvision's key layout: exercises the real file loader."""
    from helpers import torchvision_vgg16_features

    path = tmp_path_factory.mktemp("vgg") / "vgg16_standin.pth"
    torch.save(torchvision_vgg16_features(seed=5)[1], path)
    return str(path)
