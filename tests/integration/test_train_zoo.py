"""`inpaintbench train` end to end: train, resume from last.ckpt, export weights + card to the zoo."""

import pytest
import yaml
from helpers import tiny_train_cfg

from inpaintbench.errors import InpaintbenchError
from inpaintbench.tasks import train
from inpaintbench.weights import load_weights, sha256_file
from inpaintbench.zoo import list_zoo, verify_entry


def _cfg(tmp_path, steps):
    return tiny_train_cfg(tmp_path, steps, "t")


def test_train_resumes_and_exports_a_card_the_zoo_lists(tmp_path):
    first = train(_cfg(tmp_path, 2))
    assert (tmp_path / "runs" / "pconv_unet_tiny.t" / "checkpoints" / "last.ckpt").is_file()
    resumed = train(_cfg(tmp_path, 3))
    assert first.card["steps"] == 2 and resumed.card["steps"] == 3  # continued, not restarted
    card = yaml.safe_load((tmp_path / "models" / "pconv_unet_tiny.t.yaml").read_text())
    assert card["sha256"] == sha256_file(resumed.weights)
    assert card["losses"]["perceptual"] == 0.0 and card["system"]["perceptual_backbone"] == "none"
    # options resolved at construction are recorded as used, not as configured (`auto`)
    assert card["system"]["parametrisation"] == "nvidia" and card["system"]["tv_region"] == "image"
    assert card["data"]["manifest_sha256"] and card["data"]["root"] == "data/sample/train"
    [entry] = list_zoo(tmp_path / "models")
    verify_entry(entry)
    from inpaintbench import create_model

    load_weights(create_model("pconv_unet_tiny"), entry.weights)
    entry.weights.write_bytes(entry.weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(InpaintbenchError, match="differs from its card"):
        verify_entry(entry)
