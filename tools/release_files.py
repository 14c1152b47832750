"""Builders for release-layout files, written the way the official code wrote them.

No real weights: tensors take the exact official names and shapes from the `*_keys.tsv` lists
(tests/fixtures/keys/, read by `official_keys`) and values from a seeded generator. To keep
files small, every tensor is a view into one shared random buffer at its own offset: values differ
per key, `torch.save` stores the buffer once. Foreign classes (OmegaConf, Lightning) are stand-ins
with the real `__module__`/`__qualname__`, installed in `sys.modules` only while pickling.
This module also holds a small TensorBundle V2 *writer* used to build a DeepFill release folder.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import pathlib
import struct
import sys
import types
import typing
from collections import OrderedDict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from inpaintbench.release.tensorbundle import TABLE_MAGIC, masked_crc32c

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
TF_FIXTURE = FIXTURES / "tensorflow_checkpoint"


#: One copy of each shared/reference/<name>_keys.tsv: the exact official state-dict keys and shapes.
KEYS_DIR = FIXTURES / "keys"


@cache
def _read_keys(name: str) -> MappingProxyType[str, tuple[int, ...]]:
    path = KEYS_DIR / f"{name}_keys.tsv"
    header, *rows = path.read_text().splitlines()
    assert header == "key\tshape", f"{path}: unexpected header {header!r}"
    keys = {}
    for row in rows:
        key, shape = row.split("\t")
        dims = shape.strip().strip("[]")
        keys[key] = tuple(int(d) for d in dims.split(",")) if dims else ()
    return MappingProxyType(keys)


def official_keys(name: str) -> dict[str, tuple[int, ...]]:
    """key -> shape of tests/fixtures/keys/<name>_keys.tsv, in file order (deepfill_v1, lama_big,
    lama_discriminator, lama_fourier, pconv, rfrnet); `()` for scalars. A fresh dict per call."""
    return dict(_read_keys(name))


def read_keys(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) rows of the official key list `name` (see `official_keys`), in file order."""
    return list(official_keys(name).items())


def synthetic_state(rows: list[tuple[str, tuple[int, ...]]], seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """Official-layout state dict: float views into one shared buffer, int64 num_batches_tracked.

    PConv's frozen `mask_conv.weight` parameters hold exact ones, as in the released file (the
    converter refuses anything else); they are views into one shared buffer of ones.
    """
    largest = max(int(np.prod(shape)) for _, shape in rows)
    buffer = torch.randn(largest + 4096, generator=torch.Generator().manual_seed(seed))
    ones = torch.ones(max((int(np.prod(shape)) for key, shape in rows if key.endswith("mask_conv.weight")), default=0))
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for index, (key, shape) in enumerate(rows):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000 + index, dtype=torch.int64)
            continue
        numel = int(np.prod(shape)) if shape else 1
        if key.endswith("mask_conv.weight"):
            state[key] = ones[:numel].view(shape)
            continue
        offset = (index * 97) % 4096
        state[key] = buffer[offset : offset + numel].view(shape)
    state._metadata = OrderedDict({"": {"version": 1}})  # type: ignore[attr-defined]  # as nn.Module.state_dict
    return state


def adam_state(state: dict[str, torch.Tensor], count: int = 3) -> dict:
    """An Adam `state_dict()` for the first `count` parameters (moments shaped like them)."""
    params = [k for k, v in state.items() if v.is_floating_point()][:count]
    return {
        "state": {
            i: {"step": 1000, "exp_avg": torch.zeros_like(state[k]) + 0.5, "exp_avg_sq": torch.ones_like(state[k])}
            for i, k in enumerate(params)
        },
        "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "params": [0, 1, 2]}],
    }


@contextlib.contextmanager
def saved_on_gpu(tensors: list[torch.Tensor]) -> Iterator[None]:
    """Make torch.save tag the storages of `tensors` as `cuda:0`, as a GPU-trained file records them.

    torch.save asks `torch.serialization.location_tag(storage)` for each storage's location string
    and writes it into the pickle; patching it is exactly the difference between a CPU and a GPU
    save as far as the file is concerned (the bytes are the same).
    """
    pointers = {t.untyped_storage().data_ptr() for t in tensors}
    original = torch.serialization.location_tag

    def tag(storage: object) -> str:
        ptr = storage.data_ptr() if hasattr(storage, "data_ptr") else None
        return "cuda:0" if ptr in pointers else original(storage)

    torch.serialization.location_tag = tag
    try:
        yield
    finally:
        torch.serialization.location_tag = original


# --- stand-ins for foreign classes ---------------------------------------------------------------

CALLED: list[str] = []  # a stand-in's code appends here; the reader must never call it


def _standin(module: str, qualname: str, base: type = object, **body: object) -> type:
    cls = type(qualname, (base,), dict(body))
    cls.__module__ = module
    cls.__qualname__ = qualname
    return cls


def _setstate(self: object, state: dict) -> None:
    CALLED.append(type(self).__qualname__)
    self.__dict__.update(state)


ContainerMetadata = _standin("omegaconf.base", "ContainerMetadata", __setstate__=_setstate)
Metadata = _standin("omegaconf.base", "Metadata", __setstate__=_setstate)
AnyNode = _standin("omegaconf.nodes", "AnyNode", __setstate__=_setstate)
DictConfig = _standin(
    "omegaconf.dictconfig",
    "DictConfig",
    __setstate__=_setstate,
    __getstate__=lambda self: dict(self.__dict__),
)
ModelCheckpoint = _standin("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
AttributeDict = _standin("lightning.fabric.utilities.data", "AttributeDict", base=dict)
SCMode = enum.Enum("SCMode", "DICT DICT_CONFIG INSTANTIATE")
SCMode.__module__ = "omegaconf.base"


def make_dictconfig(content: dict) -> object:
    """A DictConfig laid out as OmegaConf 2.x pickles it (metadata, parent, content of nodes)."""
    cfg = DictConfig.__new__(DictConfig)
    meta = ContainerMetadata.__new__(ContainerMetadata)
    meta.__dict__.update(
        {
            "ref_type": typing.Any,
            "object_type": dict,
            "optional": True,
            "key": None,
            "flags": {},
            "key_type": typing.Any,
        }
    )
    nodes = {}
    for key, value in content.items():
        if isinstance(value, dict):
            nodes[key] = make_dictconfig(value)
            continue
        node = AnyNode.__new__(AnyNode)
        node_meta = Metadata.__new__(Metadata)
        node_meta.__dict__.update({"ref_type": typing.Any, "object_type": None, "optional": True, "key": key})
        node.__dict__.update({"_metadata": node_meta, "_parent": None, "_val": value})
        nodes[key] = node
    cfg.__dict__.update({"_metadata": meta, "_parent": None, "_content": nodes, "_flags_cache": None})
    return cfg


_FOREIGN = {
    "omegaconf": {},
    "omegaconf.base": {"ContainerMetadata": ContainerMetadata, "Metadata": Metadata, "SCMode": SCMode},
    "omegaconf.nodes": {"AnyNode": AnyNode},
    "omegaconf.dictconfig": {"DictConfig": DictConfig},
    "pytorch_lightning": {},
    "pytorch_lightning.callbacks": {},
    "pytorch_lightning.callbacks.model_checkpoint": {"ModelCheckpoint": ModelCheckpoint},
    "lightning": {},
    "lightning.fabric": {},
    "lightning.fabric.utilities": {},
    "lightning.fabric.utilities.data": {"AttributeDict": AttributeDict},
}


@contextlib.contextmanager
def foreign_modules() -> Iterator[None]:
    """Install the stand-ins under their real module names while pickling, then restore."""
    saved = {name: sys.modules.get(name) for name in _FOREIGN}
    try:
        for name, attrs in _FOREIGN.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def block_imports(
    monkeypatch: object, prefixes: tuple[str, ...] = ("omegaconf", "pytorch_lightning", "lightning", "tensorflow")
) -> None:
    """Make `import omegaconf` (and the others) fail for the rest of the test."""
    for name in list(sys.modules):
        if name.split(".")[0] in prefixes:
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[attr-defined]
    for name in prefixes:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[attr-defined]


# --- release files -------------------------------------------------------------------------------

LAMA_EVALUATOR_KEYS = {
    "scores.ssim.score.window": (3, 1, 11, 11),
    "scores.lpips.score.model.net.slice1.0.weight": (64, 3, 3, 3),
    "scores.lpips.score.model.net.slice1.0.bias": (64,),
    "scores.lpips.score.model.lin0.model.1.weight": (1, 64, 1, 1),
    "scores.fid.model.blocks.0.0.conv.weight": (32, 3, 3, 3),
    "scores.fid.model.blocks.0.0.bn.running_mean": (32,),
}


def write_lama_ckpt(path: Path, variant: str = "lama_big", *, with_discriminator: bool = False) -> OrderedDict:
    """big-lama / lama-fourier `models/best.ckpt` as Lightning 1.2.9 dumped it after make_checkpoint."""
    generator = synthetic_state(read_keys(variant), seed=1)
    state_dict: OrderedDict[str, torch.Tensor] = OrderedDict(generator)
    inception = torch.randn(32, 3, 3, 3)  # one shared module (FIDScore._MODEL), stored once
    for prefix in ("val_evaluator", "test_evaluator"):
        for key, shape in LAMA_EVALUATOR_KEYS.items():
            value = inception if "fid.model.blocks.0.0.conv" in key else torch.randn(shape)
            state_dict[f"{prefix}.{key}"] = value
    if with_discriminator:
        state_dict["discriminator.model0.0.weight"] = torch.randn(64, 3, 4, 4)
    config = make_dictconfig(
        {
            "run_title": "b18_ffc075_batch8x15",
            "generator": {"kind": "ffc_resnet", "n_blocks": 18 if variant == "lama_big" else 9},
            "location": {"data_root_dir": "/data/places"},
        }
    )
    ckpt = {
        "epoch": 39,
        "global_step": 1000000,
        "pytorch-lightning_version": "1.2.9",
        "state_dict": state_dict,
        "callbacks": {
            ModelCheckpoint: {
                "monitor": "val_ssim_fid100_f1_total_mean",
                "best_model_score": torch.tensor(0.9),
                "best_model_path": "/experiments/best.ckpt",
                "current_score": torch.tensor(0.9),
                "dirpath": "/experiments/models",
            }
        },
        "lr_schedulers": [],
        "hparams_name": "config",
        "hyper_parameters": config,
        "hparams_type": DictConfig,
    }
    with foreign_modules():
        torch.save(ckpt, path)
    return generator


def write_pconv_release(path: Path) -> OrderedDict:
    """naoto0804 `1000000.pth`: torch 0.4 legacy format, everything saved from cuda:0."""
    model = synthetic_state(read_keys("pconv"), seed=2)
    optimizer = adam_state(model)
    tensors = list(model.values()) + [t for s in optimizer["state"].values() for t in s.values() if torch.is_tensor(t)]
    with saved_on_gpu(tensors):
        torch.save(
            {"n_iter": 1000000, "model": model, "optimizer": optimizer}, path, _use_new_zipfile_serialization=False
        )
    return model


def write_rfr_release(path: Path, *, legacy: bool = False) -> OrderedDict:
    """RFR `checkpoint_celeba.pth`: generator moved to CPU, Adam moments left on cuda:0."""
    generator = synthetic_state(read_keys("rfrnet"), seed=3)
    optimizer = adam_state(generator)
    moments = [t for s in optimizer["state"].values() for t in s.values() if torch.is_tensor(t)]
    with saved_on_gpu(moments):
        torch.save(
            {"n_iter": 450000, "generator": generator, "optimizer_G": optimizer},
            path,
            _use_new_zipfile_serialization=not legacy,
        )
    return generator


def write_foreign_lightning_ckpt(path: Path) -> dict[str, torch.Tensor]:
    """A Lightning checkpoint with the other foreign objects seen in the wild."""
    state = {"generator.model.1.ffc.convl2l.weight": torch.randn(4, 4, 3, 3)}
    ckpt = {
        "state_dict": OrderedDict(state),
        "hparams": argparse.Namespace(lr=1e-3, root=pathlib.PurePosixPath("/data")),
        "hyper_parameters": AttributeDict(batch_size=8, mode=SCMode.DICT),
        "loops": {"path": pathlib.PurePosixPath("/runs/x"), "kind": typing.Any},
    }
    with foreign_modules():
        torch.save(ckpt, path, pickle_protocol=2)
    return state


# --- TensorBundle V2 writer (tests only) ----------------------------------------------------------

_NP_TO_TF = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.int32): 3, np.dtype(np.int64): 9}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _entry_proto(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc: int) -> bytes:
    shape_proto = b"".join(_field(2, 2, _varint(len(d)) + d) for d in (_field(1, 0, _varint(n)) for n in shape))
    out = _field(1, 0, _varint(dtype)) + _field(2, 2, _varint(len(shape_proto)) + shape_proto)
    if offset:
        out += _field(4, 0, _varint(offset))
    out += _field(5, 0, _varint(size)) + _field(6, 5, struct.pack("<I", crc))
    return out


def _block(items: list[tuple[bytes, bytes]], restart_interval: int = 4) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", masked_crc32c(block + b"\x00"))


def write_tensorbundle(prefix: Path, variables: dict[str, np.ndarray], state_file: str | None = "checkpoint") -> None:
    """Write `prefix.index` + `prefix.data-00000-of-00001` (+ the state file) as tf.train.Saver does."""
    data, entries = bytearray(), []
    for name in sorted(variables):
        array = np.ascontiguousarray(variables[name])
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        entries.append(
            (name.encode(), _entry_proto(_NP_TO_TF[array.dtype], array.shape, len(data), len(raw), masked_crc32c(raw)))
        )
        data += raw
    header = _field(1, 0, _varint(1)) + _field(3, 2, _varint(2) + _field(1, 0, _varint(1)))
    data_block = _with_trailer(_block([(b"", header), *entries]))
    meta_block = _with_trailer(_block([]))
    handle = _varint(0) + _varint(len(data_block) - 5)
    index_block = _with_trailer(_block([(entries[-1][0] + b"\xff", handle)]))
    meta_offset = len(data_block)
    index_offset = meta_offset + len(meta_block)
    footer = _varint(meta_offset) + _varint(len(meta_block) - 5) + _varint(index_offset) + _varint(len(index_block) - 5)
    footer = footer.ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_name(prefix.name + ".index").write_bytes(data_block + meta_block + index_block + footer)
    prefix.with_name(prefix.name + ".data-00000-of-00001").write_bytes(bytes(data))
    if state_file:
        (prefix.parent / state_file).write_text(
            f'model_checkpoint_path: "/home/author/model_logs/{prefix.name}"\n'
            f'all_model_checkpoint_paths: "/home/author/model_logs/{prefix.name}"\n'
        )


def deepfill_tf_scope(port_key: str) -> str:
    """Port module prefix -> TF scope under inpaint_net/, spelled out here independently of the package."""
    network, layer = port_key.split(".")[:2]
    tf_layer = "x" + layer if network == "fine_generator" and layer.startswith("conv") else layer
    if layer in ("conv13", "conv15", "allconv13", "allconv15"):
        tf_layer = f"{tf_layer}_upsample/{tf_layer}_upsample_conv"
    return f"inpaint_net/{tf_layer}"


def write_deepfill_release(folder: Path, *, state_file: str | None = "checkpoint.txt") -> OrderedDict:
    """`release_places2_256/`: 84 generator variables (HWIO kernels), snap-0.meta beside them."""
    rows = [(k, s) for k, s in read_keys("deepfill_v1") if k.startswith(("coarse_generator.", "fine_generator."))]
    port = synthetic_state(rows, seed=4)
    variables = {}
    for key, value in port.items():
        scope = deepfill_tf_scope(key)
        if key.endswith(".weight"):
            variables[f"{scope}/kernel"] = value.permute(2, 3, 1, 0).contiguous().numpy()  # OIHW -> HWIO
        else:
            variables[f"{scope}/bias"] = value.numpy().copy()
    write_tensorbundle(folder / "snap-0", variables, state_file=state_file)
    (folder / "snap-0.meta").write_bytes(b"\x0a\x00not needed to load weights")
    return port


def test_writer_round_trips_through_the_reader(tmp_path: Path) -> None:
    """The test writer and the package reader agree (the reader is checked on TF's own file elsewhere)."""
    from inpaintbench.release.tensorbundle import read_tensorbundle

    values = {"a/kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.array(7, dtype=np.int64)}
    write_tensorbundle(tmp_path / "snap-0", values)
    read = read_tensorbundle(tmp_path)
    assert set(read) == set(values)
    for name, value in values.items():
        np.testing.assert_array_equal(read[name], value)
