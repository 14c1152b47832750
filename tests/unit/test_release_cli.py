"""Each official release, as downloaded, drives the user-facing commands: `inpaintbench inpaint
--weights FILE` and `inpaintbench eval weights=FILE`, and result rows carry the file's sha256."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_release_layouts import BUILDERS

from inpaintbench.cli import main
from inpaintbench.config import compose
from inpaintbench.release import read_release


@pytest.fixture
def photo_and_hole(tmp_path, repo_root):
    source = sorted((repo_root / "data" / "sample" / "eval").glob("*.png"))[3]
    image = np.asarray(Image.open(source).convert("RGB"))[:96, :88]
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[30:60, 20:50] = 255
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(hole).save(tmp_path / "hole.png")
    return tmp_path / "in.png", tmp_path / "hole.png", image, hole


@pytest.mark.parametrize("model", list(BUILDERS))
def test_inpaint_cli_reads_the_release_as_downloaded(tmp_path, model, photo_and_hole):
    image_path, hole_path, image, hole = photo_and_hole
    _, file_name, build, _ = BUILDERS[model]
    release = tmp_path / file_name
    build(release)
    out = tmp_path / "out.png"
    main(["inpaint", "--model", model, "--weights", str(release), "--image", str(image_path),
          "--mask", str(hole_path), "--out", str(out)])  # fmt: skip
    result = np.asarray(Image.open(out))
    assert result.shape == image.shape
    assert np.array_equal(result[hole == 0], image[hole == 0])


def test_eval_with_a_release_records_its_sha256(tmp_path):
    _, file_name, build, _ = BUILDERS["lama_fourier"]
    release = tmp_path / file_name
    build(release)
    cfg = compose(
        "eval",
        [
            "model=lama_fourier",
            f"weights={release}",
            "masks=box_center",
            "limit=1",
            f"paths.results={tmp_path / 'results'}",
            "efficiency=false",
            "progress=false",
            "print_table=false",
        ],
    )
    from inpaintbench.tasks import evaluate

    outcome = evaluate(cfg)
    assert outcome.store.record()["weights_sha256"] == read_release(release).source_sha256
