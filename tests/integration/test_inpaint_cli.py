"""`inpaintbench inpaint` end to end on a sample photo, and its one-line errors."""

import subprocess
import sys

import numpy as np
from PIL import Image

from inpaintbench.data import read_image


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "inpaintbench.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_inpaint_one_image_changes_only_the_hole(tmp_path, repo_root):
    image = sorted((repo_root / "data" / "sample" / "eval").glob("*.png"))[0]
    hole = np.zeros((256, 256), np.uint8)
    hole[96:160, 80:176] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    out = tmp_path / "out.png"
    result = _cli(
        "inpaint",
        "--model",
        "opencv_telea",
        "--image",
        str(image),
        "--mask",
        "hole.png",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    before = np.asarray(Image.open(image).convert("RGB"))
    after = np.asarray(Image.open(out))
    known = hole == 0
    assert np.array_equal(after[known], before[known])
    assert not np.array_equal(after[~known], before[~known])
    assert np.allclose(read_image(out).numpy().transpose(1, 2, 0) * 255, after)


def test_inpaint_errors_are_one_line(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m.png")
    missing = _cli(
        "inpaint", "--model", "opencv_telea", "--image", "nope.png", "--mask", "m.png", "--out", "o.png", cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "nope.png" in missing.stderr
    unknown = _cli(
        "inpaint", "--model", "opencv_tela", "--image", "m.png", "--mask", "m.png", "--out", "o.png", cwd=tmp_path
    )
    assert unknown.returncode == 2 and "did you mean 'opencv_telea'" in unknown.stderr
