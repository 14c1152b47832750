"""The restricted unpickler reads protocol 0-5 as CPython does, and reading a file changes nothing else.

Protocol 0-2 pickles written by Python 3 name builtins by their Python 2 names (`__builtin__ long`);
CPython maps them back through `_compat_pickle`, and so must we, with the deny rules applied after.
"""

from __future__ import annotations

import _compat_pickle
import collections
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from inpaintbench.release import UnsafePickleError, read_raw, safe_pickle
from inpaintbench.release.safe_pickle import SAFE_BUILTINS, ForeignObject, loads, placeholder


class _Reduce:
    """Pickles as `func(*args)` without ever calling it here."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _str2(text: str) -> bytes:
    """BINUNICODE argument (protocol 1+)."""
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


# --- every protocol, type objects as values -----------------------------------------------------

TYPES = [int, str, bytes, range, dict, list, set, frozenset, complex, slice]
DATA = {
    "types": TYPES,
    "bytes": b"\x00\xffab",
    "bytearray": bytearray(b"xy"),
    "set": {1, 2},
    "frozenset": frozenset({3}),
    "complex": 1 + 2j,
    "slice": slice(1, 9, 2),
    "range": range(2, 7),
    "big": 2**70,
    "ordered": OrderedDict(a=1),
}


@pytest.mark.parametrize("protocol", range(6))
def test_type_objects_round_trip_at_every_protocol(protocol):
    data = pickle.dumps(DATA, protocol=protocol)
    if protocol < 3:
        assert b"__builtin__" in data  # the compat names are really there
    ours = loads(data)
    assert ours == pickle.loads(data) == DATA
    assert all(a is b for a, b in zip(ours["types"], TYPES, strict=True))


def test_compat_names_resolve_to_the_objects_cpython_gives():
    """Every `_compat_pickle` name whose target CPython resolves to a safe builtin gives the same object."""
    checked = 0
    for (module, name), (new_module, new_name) in _compat_pickle.NAME_MAPPING.items():
        if new_module != "builtins" or new_name not in SAFE_BUILTINS:
            continue
        data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
        assert loads(data) is pickle.loads(data) is SAFE_BUILTINS[new_name], (module, name)
        checked += 1
    assert checked >= 4  # long, unicode, xrange, basestring at least
    # at protocol 3 there is no mapping: `__builtin__` is not a Python 3 module, so no real type comes back
    assert foreign_or_refused(b"\x80\x03c__builtin__\nlong\n.")


def foreign_or_refused(data: bytes) -> bool:
    try:
        return safe_pickle.foreign_name(loads(data)) is not None
    except UnsafePickleError:
        return True


def test_mapping_can_be_switched_off_as_in_cpython():
    data = b"\x80\x02c__builtin__\nlong\n."
    assert loads(data) is int
    with pytest.raises(UnsafePickleError, match=r"__builtin__\.long"):
        loads(data, fix_imports=False)


# --- code-running names reached through compat names stay refused ------------------------------


def _compat_payloads(marker: Path) -> dict[str, bytes]:
    touch = f"open({str(marker)!r}, 'w').close()"
    shell = f"touch {marker}"
    return {
        # written by CPython itself: Python 3 writes eval / os.system under their compat names
        "eval protocol 0": pickle.dumps(_Reduce(eval, (touch,)), protocol=0),
        "eval protocol 1": pickle.dumps(_Reduce(eval, (touch,)), protocol=1),
        "eval protocol 2": pickle.dumps(_Reduce(eval, (touch,)), protocol=2),
        "os.system protocol 2": pickle.dumps(_Reduce(os.system, (shell,)), protocol=2),
        "subprocess protocol 2": pickle.dumps(_Reduce(subprocess.call, (["touch", str(marker)],)), protocol=2),
        # by hand: getattr(__import__('os'), 'system')(...) through __builtin__ names
        "__builtin__.getattr": b"\x80\x02c__builtin__\ngetattr\nc__builtin__\n__import__\n"
        + _str2("os")
        + b"\x85R"
        + _str2("system")
        + b"\x86R"
        + _str2(shell)
        + b"\x85R.",
        # `commands` is mapped to `subprocess` by IMPORT_MAPPING
        "commands.getoutput": b"\x80\x02ccommands\ngetoutput\n" + _str2(shell) + b"\x85R.",
    }


def test_compat_payloads_are_real(tmp_path):
    """Control: CPython's own unpickler runs every one of them (so the refusals below can fail)."""
    marker = tmp_path / "control"
    for name, data in _compat_payloads(marker).items():
        pickle.loads(data)
        assert marker.exists(), name
        marker.unlink()


@pytest.mark.parametrize("payload", list(_compat_payloads(Path("x"))))
def test_compat_payload_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    data = _compat_payloads(marker)[payload]
    if data.startswith(b"\x80"):  # a torch legacy-format header: read as a weight file
        bad = tmp_path / "evil.pth"
        bad.write_bytes(data)
        with pytest.raises(UnsafePickleError, match=r"evil\.pth: refused to unpickle: the pickle calls .*nothing was"):
            read_raw(bad)
    else:  # protocol 0/1 carry no header that a weight file starts with
        with pytest.raises(UnsafePickleError, match=r"the pickle calls builtins\.eval, which can run code"):
            loads(data)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("__builtin__", "eval"),
        ("__builtin__", "getattr"),
        ("__builtin__", "apply"),
        ("__builtin__", "execfile"),
        ("__builtin__", "reduce"),  # -> functools.reduce
        ("__builtin__", "intern"),  # -> sys.intern
        ("__builtin__", "__import__"),
        ("copy_reg", "__newobj__"),  # -> copyreg
        ("copy_reg", "add_extension"),
        ("exceptions", "SystemExit"),  # -> builtins.SystemExit
        ("itertools", "imap"),  # -> builtins.map
    ],
)
@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_compat_names_of_code_are_refused_at_protocols_0_to_2(module, name, protocol):
    head = b"" if protocol == 0 else bytes([0x80, protocol])
    with pytest.raises(UnsafePickleError, match="can run code"):
        loads(head + f"c{module}\n{name}\n.".encode())


def test_builtin_code_names_are_refused_unmapped_too():
    """At protocol 3+ CPython does not map `__builtin__`; the deny rule still covers the name."""
    with pytest.raises(UnsafePickleError, match=r"__builtin__\.eval"):
        loads(b"\x80\x04c__builtin__\neval\n.")


# --- reading a file changes nothing outside the returned object ---------------------------------


def _build_on(module: str, name: str, attribute: str) -> bytes:
    """GLOBAL module.name, BUILD with (None, {attribute: 1}): CPython does setattr(global, attribute, 1)."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"N}" + _str2(attribute) + b"K\x01s\x86b."


BUILD_TARGETS = {
    "collections.Counter": lambda: collections.Counter,
    "torch._utils._rebuild_tensor_v2": lambda: torch._utils._rebuild_tensor_v2,
    "omegaconf.base.Metadata": lambda: placeholder("omegaconf.base", "Metadata"),
}


def test_build_on_a_class_changes_the_process_under_plain_pickle():
    """Control: CPython's unpickler really sets the attribute on the class."""
    try:
        pickle.loads(_build_on("collections", "Counter", "ib_control"))
        assert collections.Counter.ib_control == 1
    finally:
        del collections.Counter.ib_control


@pytest.mark.parametrize("target", list(BUILD_TARGETS))
def test_build_on_a_global_is_refused_and_changes_nothing(tmp_path, target):
    module, name = target.rsplit(".", 1)
    bad = tmp_path / "evil.pth"
    bad.write_bytes(_build_on(module, name, "ib_pwned"))
    with pytest.raises(UnsafePickleError, match=rf"refused to unpickle: the pickle's BUILD would modify {target}"):
        read_raw(bad)
    assert not hasattr(BUILD_TARGETS[target](), "ib_pwned")


def test_build_on_objects_made_by_the_file_still_works():
    """An OrderedDict's `_metadata` (every torch state dict) and inert objects' state still load."""
    state = OrderedDict(w=1)
    state._metadata = {"": {"version": 1}}
    loaded = loads(pickle.dumps(state, protocol=2))
    assert loaded == state and loaded._metadata == state._metadata
    inert = loads(b"\x80\x02comegaconf.base\nMetadata\n)\x81}" + _str2("key") + b"K\x01sb.")
    assert isinstance(inert, ForeignObject) and inert.state == {"key": 1}


ONE_TIB = 2**40
ALLOCATIONS = {
    "bytearray(2**40)": _Reduce(bytearray, (ONE_TIB,)),
    "bytes(2**40)": _Reduce(bytes, (ONE_TIB,)),
    "list(range(2**40))": _Reduce(list, (range(ONE_TIB),)),
    "tuple(range(2**40))": _Reduce(tuple, (range(ONE_TIB),)),
    "torch.Size(range(2**40))": _Reduce(torch.Size, (range(ONE_TIB),)),
    "quantized tensor of 2**40 elements": _Reduce(
        torch._utils._rebuild_qtensor,
        (None, 0, (2**20, 2**20), (2**20, 1), (torch.per_tensor_affine, 1.0, 0), False, OrderedDict()),
    ),
}


@pytest.mark.parametrize("request_", list(ALLOCATIONS))
@pytest.mark.parametrize("container", ["legacy", "zip"])
def test_huge_allocation_requests_are_refused_in_one_line(tmp_path, request_, container):
    bad = tmp_path / "evil.pth"
    payload = {"state_dict": {"w": torch.ones(2)}, "x": ALLOCATIONS[request_]}
    torch.save(payload, bad, _use_new_zipfile_serialization=container == "zip", pickle_protocol=2)
    with pytest.raises(UnsafePickleError) as caught:
        read_raw(bad)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{bad}: refused to unpickle: the pickle calls ")
    assert "of memory, far beyond the 64 MiB this file may use; nothing was allocated" in message


def test_allocation_limit_grows_with_the_file():
    """The limit is max(64 MiB, 8 x the file's size): a 16 MiB file may ask for 100 MiB, a small one not."""
    data = pickle.dumps(_Reduce(bytearray, (100 << 20,)), protocol=2)
    with pytest.raises(UnsafePickleError, match=r"bytearray\(\.\.\.\) asking for 0\.1 GiB"):
        loads(data)
    with safe_pickle.source_size(16 << 20):
        assert len(loads(data)) == 100 << 20
    assert loads(pickle.dumps(_Reduce(bytearray, (1000,)), protocol=2)) == bytearray(1000)
    assert len(loads(pickle.dumps(_Reduce(list, (range(1000),)), protocol=4))) == 1000


def test_no_module_is_imported_or_patched_by_reading(tmp_path):
    """The placeholder cache is the only thing that may grow; sys.modules is untouched."""
    before = set(sys.modules)
    loads(b"\x80\x02cnot_a_module.at_all\nThing\n)\x81.")
    assert set(sys.modules) == before
