"""Read torch pickles (zip and legacy formats) that carry foreign objects, without running their code.

Choice: a **restricted unpickler**, not `weights_only=True` plus an allowlist. Official release files
pickle objects from packages we do not want to require (OmegaConf `DictConfig` and its nodes, a
Lightning `ModelCheckpoint` class used as a dict key, `AttributeDict`, argparse `Namespace`,
`pathlib` paths, enums, `typing.Any`, ...). The exact set differs between Lightning and OmegaConf
versions, so an allowlist of stand-ins breaks on the next file; here every global is resolved as:

1. tensor rebuilding (the set torch's own `weights_only` unpickler trusts: `torch._utils._rebuild_*`,
   storages, dtypes, `torch.Size`, `OrderedDict`, ...) and inert builtin types -> the real object;
2. anything that can run code (`os`/`posix`/`nt`, `subprocess`, `sys`, `builtins.eval`/`exec`/
   `getattr`/`__import__`/`open`, `importlib`, `runpy`, `pickle`, `marshal`, `ctypes`, `functools`,
   `operator`, `types`, `socket`, ...) -> refused with `UnsafePickleError` before anything runs;
3. every other global -> an inert `ForeignObject` subclass named after it. Instantiating it (REDUCE,
   NEWOBJ, BUILD, SETITEMS) only records the arguments and state; the real class is never imported
   and never called, so none of omegaconf / lightning / tensorflow is needed or touched.

Tensors are rebuilt by `torch.load` itself (its storage handling, `map_location="cpu"` so files
saved from `cuda:0` load on a CPU-only machine, `mmap` for zip files so tensors that a layout drops
are never read into memory); only the pickle module it uses is ours.
"""

from __future__ import annotations

import pickle
import sys
import tarfile
import zipfile
from collections import Counter, OrderedDict, defaultdict
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch._weights_only_unpickler as _torch_safe

from inpaintbench.weights import WeightsError


class UnsafePickleError(WeightsError, pickle.UnpicklingError):
    """A pickle that references something able to run code; nothing of it was executed."""


#: Modules whose globals can run code, open files or reach the interpreter: refused outright.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "importlib", "runpy", "shutil",
        "socket", "pty", "ctypes", "pickle", "_pickle", "marshal", "code", "codeop", "types", "functools",
        "operator", "_operator", "io", "_io", "multiprocessing", "webbrowser", "tempfile", "pdb", "signal",
        "asyncio", "threading", "_thread", "gc", "inspect", "platform", "shlex", "urllib", "http", "ftplib",
        "smtplib", "telnetlib", "commands", "popen2", "pydoc", "timeit", "trace", "cProfile", "profile",
        "dill", "cloudpickle", "joblib", "torch.hub", "torch.jit", "torch.ops", "torch._C", "torch.package",
    }
)  # fmt: skip

#: Builtins that are plain data types; every other `builtins.*` name (eval, exec, getattr, ...) is refused.
SAFE_BUILTINS: dict[str, Any] = {
    t.__name__: t
    for t in (set, frozenset, complex, bytearray, bytes, slice, range, dict, list, tuple, int, float, str, bool, object)
}


class ForeignObject:
    """Inert stand-in for an instance of a class we did not import. Records what the pickle said."""

    foreign_name: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> ForeignObject:  # NEWOBJ calls only this
        obj = object.__new__(cls)
        obj.args, obj.kwargs = args, kwargs
        obj.state, obj.items, obj.list_items = None, {}, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # REDUCE calls __new__ then this
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS of dict subclasses
        self.items[key] = value

    def append(self, value: Any) -> None:  # APPENDS of list subclasses
        self.list_items.append(value)

    def extend(self, values: Any) -> None:
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.foreign_name}>"


_placeholders: dict[str, type[ForeignObject]] = {}


def placeholder(module: str, name: str) -> type[ForeignObject]:
    """The (cached, so identity is kept) inert class standing for global `module.name`."""
    full = f"{module}.{name}"
    if full not in _placeholders:
        cls = type(name.rsplit(".", 1)[-1], (ForeignObject,), {"foreign_name": full, "__module__": __name__})
        _placeholders[full] = cls
    return _placeholders[full]


def foreign_name(obj: Any) -> str | None:
    """`module.qualname` of a placeholder class or instance, else None."""
    if isinstance(obj, ForeignObject) or (isinstance(obj, type) and issubclass(obj, ForeignObject)):
        return obj.foreign_name
    return None


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """`copyreg._reconstructor` (protocol 0/1 objects) without calling arbitrary constructors."""
    if isinstance(cls, type) and issubclass(cls, ForeignObject):
        obj = cls.__new__(cls)
        ForeignObject.__init__(obj, state)
        return obj
    if cls in (dict, list, set, tuple, OrderedDict) and base in (object, cls):
        return cls() if state is None else cls(state)
    raise UnsafePickleError(f"copyreg._reconstructor on {cls!r} is not allowed")


def _trusted_globals() -> dict[str, Any]:
    trusted = dict(_torch_safe._get_allowed_globals())  # the tensor-rebuilding set torch itself trusts
    trusted.update({f"builtins.{k}": v for k, v in SAFE_BUILTINS.items()})
    trusted.update({f"__builtin__.{k}": v for k, v in SAFE_BUILTINS.items()})
    trusted.update(
        {
            "collections.OrderedDict": OrderedDict,
            "collections.defaultdict": defaultdict,
            "collections.Counter": Counter,
            "copyreg._reconstructor": _safe_reconstructor,
            "copy_reg._reconstructor": _safe_reconstructor,
            "torch._utils._rebuild_parameter_with_state": torch._utils._rebuild_parameter_with_state,
        }
    )
    return trusted


_TRUSTED = _trusted_globals()


def _is_denied(module: str, name: str) -> bool:
    if module in ("builtins", "__builtin__"):
        return name not in SAFE_BUILTINS
    parts = f"{module}.{name}".split(".")
    return any(".".join(parts[: i + 1]) in DENIED_MODULES for i in range(len(parts)))


def resolve_global(module: str, name: str) -> Any:
    """What a pickle's GLOBAL `module name` becomes: trusted object, refusal, or inert placeholder."""
    full = f"{module}.{name}"
    if full in _TRUSTED:
        return _TRUSTED[full]
    if _is_denied(module, name):
        raise UnsafePickleError(f"the pickle calls {full}, which can run code; nothing was executed")
    return placeholder(module, name)


class Unpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose globals go through `resolve_global`; torch.load subclasses it."""

    def find_class(self, module: str, name: str) -> Any:
        return resolve_global(module, name)


def load(file: Any, **kwargs: Any) -> Any:
    """`pickle.load` with the restricted unpickler (torch's legacy format calls this for its headers)."""
    return Unpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs: Any) -> Any:
    import io

    return Unpickler(io.BytesIO(data), **kwargs).load()


_THIS_MODULE = sys.modules[__name__]


def container_format(path: Path) -> str:
    """'zip', 'legacy' (torch < 1.6 magic-number format) or 'tar' (torch < 0.4), from the bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80":
        return "legacy"
    if tarfile.is_tarfile(path):
        return "tar"
    raise WeightsError(f"{path}: not a torch pickle (starts with {head[:8]!r})")


def load_torch_pickle(path: str | Path) -> Any:
    """Unpickle a torch file of any serialization format onto the CPU, with inert foreign objects."""
    path = Path(path)
    fmt = container_format(path)
    if fmt == "zip" and not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: truncated or damaged zip archive (no central directory)")
    try:
        return torch.load(
            path,
            map_location="cpu",
            pickle_module=_THIS_MODULE,
            weights_only=False,  # safe: our pickle module resolves every global (see module docstring)
            mmap=fmt == "zip",
        )
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{path}: refused to unpickle: {error}") from None
    except RuntimeError as error:
        if "safely load weights when explicit pickle_module" in str(error):
            raise WeightsError(
                f"{path}: TORCH_FORCE_WEIGHTS_ONLY_LOAD is set, which forbids the restricted release reader"
            ) from None
        raise WeightsError(f"{path}: not a readable torch file, truncated or damaged ({_one_line(error)})") from None
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError, OSError) as error:
        raise WeightsError(f"{path}: not a readable torch file, truncated or damaged ({_one_line(error)})") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = [
    "DENIED_MODULES",
    "ForeignObject",
    "Unpickler",
    "UnsafePickleError",
    "foreign_name",
    "load",
    "load_torch_pickle",
    "loads",
    "placeholder",
    "resolve_global",
]
