import os
import pickle

import pytest
import torch
from torch import nn

from inpaintbench.weights import (
    WeightsError,
    load_weights,
    read_checkpoint,
    save_safetensors,
    sha256_file,
)


class _Payload:
    """Unpickling this would run a shell command creating a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as handle:
        pickle.dump({"weight": _Payload(marker)}, handle)
    with pytest.raises(WeightsError, match="refused to unpickle"):
        read_checkpoint(bad)
    assert not marker.exists()


def test_wrong_sha256_is_refused_before_parsing(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors({"a": torch.ones(2)}, path)
    with pytest.raises(WeightsError, match="does not match"):
        read_checkpoint(path, sha256="deadbeef")
    assert read_checkpoint(path, sha256=sha256_file(path)[:10])["a"].sum() == 2


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    state = model.state_dict()
    state.pop("1.running_var")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"1 missing: 1\.running_var; 1 unexpected: extra\.weight"):
        load_weights(model, path)


def test_round_trip_returns_file_sha(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "lin.safetensors"
    sha = save_safetensors(model.state_dict(), path)
    fresh = nn.Linear(3, 2)
    assert load_weights(fresh, path) == sha
    assert torch.equal(fresh.weight, model.weight)


def test_truncated_file_gives_one_line_error(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"a": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(WeightsError, match=r"w\.pth: not a readable torch weight file"):
        read_checkpoint(path)
