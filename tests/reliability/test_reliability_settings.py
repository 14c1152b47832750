"""Validation before work: every bad setting is one line naming the key, exit status 2, no run.

Before (issue 15): `batch_size=-1` and `shard_size=-3` gave an empty table with exit 0, zero sizes
a ZeroDivisionError, `limit=0` evaluated everything and `limit=-2` all but two, `device=cuda`
without a GPU a traceback, and a learned model without weights ran untrained under its plain name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reliability_kit as kit
import torch
from PIL import Image


@pytest.fixture(autouse=True)
def _no_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


BAD = [
    ("batch_size=-1", "batch_size=-1: must be >= 1"),
    ("batch_size=0", "batch_size=0: must be >= 1"),
    ("shard_size=-3", "shard_size=-3: must be >= 1"),
    ("shard_size=0", "shard_size=0: must be >= 1"),
    ("limit=0", "limit=0: must be >= 1"),
    ("limit=-2", "limit=-2: must be >= 1"),
    ("batch_size=eight", "batch_size='eight': must be an integer"),
    ("changed_inputs=ignore", "changed_inputs='ignore': must be one of refuse, recompute"),
    ("data.max_pixels=0", "data.max_pixels must be a positive integer"),
    ("device=tpu9", "device='tpu9': not a torch device"),
    ("model=lama_tiny", "weights: model 'lama_tiny' is learned; pass weights=FILE, or weights=none"),
    ("weights=some.safetensors", "model 'opencv_telea' is not learned and takes no weights"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_setting_is_one_line_naming_the_key_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, override: str, message: str
) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=2)
    results = tmp_path / "results"
    assert kit.cli(["eval", *kit.overrides(results, images, masks), override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (results / "runs").exists()  # refused before any work


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=2)
    assert kit.cli(["eval", *kit.overrides(tmp_path / "r", images, masks), "device=cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "inpaintbench: error: device=cuda: no CUDA GPU is visible on this machine; use device=cpu"


def test_weights_none_evaluates_the_untrained_model_under_a_name_that_says_so(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=2)
    outcome = kit.evaluate(tmp_path / "r", images, masks, "model=lama_tiny", "weights=none", "efficiency=false")
    record = outcome.store.record()
    assert record["model"] == "lama_tiny.untrained" and record["weights_sha256"] == "untrained"
    csv_path, _ = kit.report(tmp_path / "r")
    assert "lama_tiny.untrained" in csv_path.read_text() and ",untrained," in csv_path.read_text()


@pytest.mark.filterwarnings("ignore::inpaintbench.data.UnreadableImageWarning")
def test_an_image_over_the_pixel_budget_is_refused_before_decoding(tmp_path: Path) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=3)
    outcome = kit.evaluate(tmp_path / "r", images, masks, f"data.max_pixels={kit.SIZE * kit.SIZE - 1}")
    assert outcome.summary.n_errors == 3
    message = "img00.png: 48x48 = 2304 pixels exceeds the pixel budget data.max_pixels=2303; refused before decoding"
    assert message in outcome.summary.errors[0]


def test_an_image_smaller_than_the_models_minimum_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    images, masks = kit.make_dataset(tmp_path / "data", n=2)
    for name in ("img00.png", "img01.png"):
        Image.fromarray(kit.smooth_image(1, 8, 8)).save(images / name)
        mask = np.zeros((8, 8), np.uint8)
        mask[2:5, 2:5] = 255
        Image.fromarray(mask).save(masks / name)
    args = [*kit.overrides(tmp_path / "r", images, masks), "data.size=8", "model=pconv_unet_tiny", "weights=none"]
    assert kit.cli(["eval", *args, "efficiency=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model pconv_unet_tiny.untrained failed on 8x8 images" in err, err
