"""A LaMa release carrying a real OmegaConf 2.1.2 DictConfig at pickle protocol 2 (tests/fixtures/lama_omegaconf),
and real models refusing a release made for another model in one line."""

from __future__ import annotations

import re
import sys
import types
import zipfile
from collections import OrderedDict

import pytest
import torch

from inpaintbench import create_model, load_weights
from inpaintbench.release import read_raw, read_release
from inpaintbench.release.reader import registered_names
from inpaintbench.weights import WeightsError
from tools.release_files import block_imports

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"ngf": 4, "n_blocks": 1}  # the fixture's generator (make_fixture.py)


@pytest.fixture
def release(repo_root):
    return repo_root / "tests" / "fixtures" / "lama_omegaconf" / "best.ckpt"


@pytest.fixture
def reference(release, monkeypatch):
    """The same file read by plain torch.load with the real omegaconf: runs code, so only for our own file."""
    callbacks = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")
    callbacks.ModelCheckpoint = type("ModelCheckpoint", (), {})
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, callbacks.__name__, callbacks)
    return torch.load(release, weights_only=False)


def test_the_fixture_is_protocol_2_with_compat_names(release):
    with zipfile.ZipFile(release) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert data[:2] == b"\x80\x02"
    assert b"c__builtin__\nlong\n" in data and b"comegaconf.dictconfig\nDictConfig\n" in data


def test_release_loads_into_a_small_lama_without_omegaconf(release, reference, monkeypatch):
    block_imports(monkeypatch)
    model = create_model("lama_tiny", **TINY)
    sha = load_weights(model, release)
    assert sha == read_release(release).source_sha256
    ours = model.state_dict()
    official = {k.removeprefix("generator."): v for k, v in reference["state_dict"].items() if k.startswith("gen")}
    assert set(ours) == set(official)
    assert all(torch.equal(ours[k], official[k]) for k in ours)


def test_inert_dictconfig_exposes_the_config_for_the_card(release, reference):
    from omegaconf import OmegaConf

    content = read_release(release)
    config = OmegaConf.to_container(reference["hyper_parameters"], resolve=False)
    assert content.info["config_keys"] == sorted(config)
    assert content.info["generator_config"] == config["generator"]
    assert content.info["lightning_version"] == "1.2.9"
    assert "omegaconf.dictconfig.DictConfig" in content.info["foreign_objects"]
    assert content.info["dropped_keys"] == {"val_evaluator": 1}
    raw, _ = read_raw(release)
    assert raw["hparams_type"].foreign_name == "omegaconf.dictconfig.DictConfig"
    assert [c.foreign_name for c in raw["callbacks"]] == [
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    ]


def test_eval_entry_point_reads_the_release(release, tmp_path):
    from inpaintbench.config import compose
    from inpaintbench.tasks import evaluate

    cfg = compose(
        "eval",
        [
            "model=lama_tiny",
            "+model.args.ngf=4",
            "+model.args.n_blocks=1",
            f"weights={release}",
            "masks=box_center",
            "limit=1",
            f"paths.results={tmp_path / 'results'}",
            "efficiency=false",
            "progress=false",
            "print_table=false",
        ],
    )
    outcome = evaluate(cfg)
    assert outcome.store.record()["weights_sha256"] == read_release(release).source_sha256


# --- the wrong release for a real model ------------------------------------------------------------


def test_create_model_records_the_registry_name():
    assert registered_names(create_model("lama_tiny")) == ("lama_tiny",)
    assert registered_names(create_model("pconv_unet_tiny")) == ("pconv_unet_tiny",)


def _pconv_port_release(path):
    """The PConv port's 1000000.pth layout ({'n_iter', 'model', 'optimizer'}), reduced to what detection reads."""
    torch.save({"n_iter": 1000000, "model": {"enc_1.conv.input_conv.weight": torch.ones(1)}, "optimizer": {}}, path)


def _lama_release(path, blocks: int):
    suffix = ".conv1.ffc.convg2g.fu.conv_layer.weight"
    state = OrderedDict((f"generator.model.{5 + i}{suffix}", torch.ones(1)) for i in range(blocks))
    torch.save({"state_dict": state, "hyper_parameters": {}}, path)


@pytest.mark.parametrize(
    ("model", "writer", "expected"),
    [
        ("lama_big", _pconv_port_release, r"layout pconv_port \(PConv U-Net PyTorch port release .*\) "),
        ("lama_tiny", _pconv_port_release, r"layout pconv_port \(PConv U-Net PyTorch port release .*\) "),
        ("pconv_unet_tiny", lambda p: _lama_release(p, 18), r"layout lama_lightning \(LaMa Lightning checkpoint .*\) "),
        ("lama_fourier", lambda p: _lama_release(p, 18), r"layout lama_lightning \(LaMa Lightning checkpoint .*\) "),
    ],
)
def test_release_for_another_model_is_refused_in_one_line(tmp_path, model, writer, expected):
    path = tmp_path / "release.pth"
    writer(path)
    feeds = ", ".join(read_release(path).models)
    with pytest.raises(WeightsError) as caught:
        load_weights(create_model(model), path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert message.endswith(f"is for {feeds}, not for {model}")
    assert re.search(expected, message)


def test_lama_release_of_either_size_fits_its_own_model_and_the_tiny_one(tmp_path):
    from inpaintbench.release import check_release_fits

    path = tmp_path / "best.ckpt"
    _lama_release(path, 9)
    content = read_release(path)
    check_release_fits(create_model("lama_fourier"), content)
    check_release_fits(create_model("lama_tiny"), content)
    with pytest.raises(WeightsError, match="is for lama_fourier, not for lama_big"):
        check_release_fits(create_model("lama_big"), content)
