"""The restricted unpickler: foreign objects become inert, code-running globals are refused."""

from __future__ import annotations

import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from inpaintbench.release import UnsafePickleError, read_release
from inpaintbench.release.safe_pickle import ForeignObject, foreign_name, load_torch_pickle
from inpaintbench.weights import WeightsError
from tools.release_files import (
    CALLED,
    block_imports,
    write_foreign_lightning_ckpt,
    write_lama_ckpt,
    write_pconv_release,
    write_rfr_release,
)

# --- crafted pickles: each would create `marker` if its reduce ran --------------------------------


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _payloads(marker: Path) -> dict[str, bytes]:
    touch = f"open({str(marker)!r}, 'w').close()"
    payloads = {
        "os.system": pickle.dumps(_Reduce(os.system, (f"touch {marker}",)), protocol=2),
        "builtins.eval": pickle.dumps(_Reduce(eval, (touch,)), protocol=2),
        "builtins.exec": pickle.dumps(_Reduce(exec, (touch,)), protocol=4),
        "subprocess.call": pickle.dumps(_Reduce(subprocess.call, (["touch", str(marker)],)), protocol=2),
    }
    # posix.system: the name os.system pickles under on Linux, written out by hand for any platform
    payloads["posix.system"] = b"\x80\x02cposix\nsystem\nq\x00X" + _len_str(f"touch {marker}") + b"\x85R."
    # getattr(__import__('os'), 'system')('touch marker'): a getattr chain without naming os.system
    payloads["builtins.getattr"] = (
        b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX" + _len_str("os") + b"\x85RX" + _len_str("system")
        + b"\x86RX" + _len_str(f"touch {marker}") + b"\x85R."
    )  # fmt: skip
    return payloads


def _len_str(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


def test_the_payloads_are_real(tmp_path):
    """Control: plain pickle.loads runs them (so the refusal tests below can fail)."""
    for name, data in _payloads(tmp_path / "control").items():
        marker = tmp_path / "control"
        pickle.loads(data)
        assert marker.exists(), name
        marker.unlink()


@pytest.mark.parametrize(
    "payload", ["os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.call", "builtins.getattr"]
)
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    bad.write_bytes(_payloads(marker)[payload])
    with pytest.raises(
        UnsafePickleError, match=r"evil\.pth: refused to unpickle: the pickle calls .*nothing was executed"
    ):
        read_release(bad)
    assert not marker.exists()


def test_payload_inside_a_zip_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "best.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "x": _Reduce(os.system, (f"touch {marker}",))}, bad)
    with pytest.raises(UnsafePickleError, match=r"calls posix\.system|calls os\.system"):
        read_release(bad)
    assert not marker.exists()


# --- foreign objects -------------------------------------------------------------------------------


def test_lightning_checkpoint_reads_without_omegaconf_or_lightning(tmp_path, monkeypatch):
    path = tmp_path / "best.ckpt"
    write_lama_ckpt(path)
    CALLED.clear()
    block_imports(monkeypatch)
    with pytest.raises(ImportError):
        import omegaconf  # noqa: F401  # the block works
    raw = load_torch_pickle(path)
    assert CALLED == []  # no stand-in code ran: placeholders are ours
    (callback_key,) = raw["callbacks"]
    assert foreign_name(callback_key) == "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    assert foreign_name(raw["hparams_type"]) == "omegaconf.dictconfig.DictConfig"
    config = raw["hyper_parameters"]
    assert isinstance(config, ForeignObject)
    assert foreign_name(config.state["_content"]["run_title"]) == "omegaconf.nodes.AnyNode"
    assert config.state["_content"]["run_title"].state["_val"] == "b18_ffc075_batch8x15"
    assert torch.equal(raw["callbacks"][callback_key]["best_model_score"], torch.tensor(0.9))


def test_namespace_attributedict_paths_enums_become_inert(tmp_path, monkeypatch):
    path = tmp_path / "other.ckpt"
    state = write_foreign_lightning_ckpt(path)
    block_imports(monkeypatch)
    raw = load_torch_pickle(path)
    assert foreign_name(raw["hparams"]) == "argparse.Namespace"
    assert foreign_name(raw["hyper_parameters"]) == "lightning.fabric.utilities.data.AttributeDict"
    assert raw["hyper_parameters"].items["batch_size"] == 8
    assert foreign_name(raw["hyper_parameters"].items["mode"]) == "omegaconf.base.SCMode"
    assert foreign_name(raw["loops"]["path"]) == "pathlib.PurePosixPath"
    assert torch.equal(raw["state_dict"]["generator.model.1.ffc.convl2l.weight"], next(iter(state.values())))


# --- legacy format, CUDA tags, damage ---------------------------------------------------------------


def test_legacy_format_with_cuda_storages_loads_on_cpu(tmp_path):
    path = tmp_path / "1000000.pth"
    expected = write_pconv_release(path)
    assert not zipfile.is_zipfile(path)  # torch 0.4 (non-zip) serialization
    assert b"cuda:0" in path.read_bytes()
    if not torch.cuda.is_available():  # the tag is real: a plain load needs CUDA
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=False)
    content = read_release(path)
    assert content.layout == "pconv_port"
    assert all(t.device.type == "cpu" for t in content.state_dict.values())
    assert all(torch.equal(content.state_dict[k], v) for k, v in expected.items())


@pytest.mark.parametrize("legacy", [False, True])
def test_rfr_optimizer_on_cuda_zip_and_legacy(tmp_path, legacy):
    path = tmp_path / "checkpoint_celeba.pth"
    expected = write_rfr_release(path, legacy=legacy)
    assert zipfile.is_zipfile(path) is not legacy
    content = read_release(path)
    assert list(content.state_dict) == list(expected)


@pytest.mark.parametrize("writer", [write_lama_ckpt, write_pconv_release])
def test_truncated_file_gives_one_line_error(tmp_path, writer):
    path = tmp_path / "w.pth"
    writer(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"w\.pth: .*(truncated|damaged)") as info:
        read_release(path)
    assert "\n" not in str(info.value)


def test_not_a_weight_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(WeightsError, match=r"notes\.txt: not a torch pickle"):
        read_release(path)
