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

Names are first mapped exactly as CPython's `Unpickler.find_class` maps them: a pickle written at
protocol 0-2 (torch 1.x saved at protocol 2) names builtins by their Python 2 names (`__builtin__
long`, `copy_reg _reconstructor`), which `_compat_pickle` turns back into `builtins int`, `copyreg
_reconstructor`; the rules above then apply to the mapped name, so `__builtin__ eval` or `__builtin__
reduce` (-> `functools.reduce`) stay refused.

Reading a file changes nothing outside the returned object: BUILD / SETITEM / APPEND aimed at a
global the pickle named (a trusted class such as `collections.Counter`, a torch function, a dtype)
is refused, and so is a call that asks for far more memory than the file holds (`bytearray(2**40)`,
`list(range(2**40))`), with one line instead of a MemoryError. The base class is the pure-Python
`pickle._Unpickler`, CPython's reference implementation, because those checks sit on its opcodes
and it exposes the protocol that the mapping depends on (the C unpickler hides both).

Tensors are rebuilt by `torch.load` itself (its storage handling, `map_location="cpu"` so files
saved from `cuda:0` load on a CPU-only machine, `mmap` for zip files so tensors that a layout drops
are never read into memory); only the pickle module it uses is ours.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import contextvars
import inspect
import io
import math
import pickle
import sys
import zipfile
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch._weights_only_unpickler as _torch_safe

from inpaintbench.io.containers import container_format
from inpaintbench.io.errors import WeightsError


class UnsafePickleError(WeightsError, pickle.UnpicklingError):
    """A pickle that references something able to run code; nothing of it was executed."""


#: Modules whose globals can run code, open files or reach the interpreter: refused outright.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "importlib", "runpy", "shutil",
        "socket", "pty", "ctypes", "pickle", "_pickle", "marshal", "code", "codeop", "types", "functools",
        "operator", "_operator", "copyreg", "copy_reg", "io", "_io", "multiprocessing", "webbrowser", "tempfile",
        "pdb", "signal",
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
    trusted.update(
        {
            "collections.OrderedDict": OrderedDict,
            "collections.defaultdict": defaultdict,
            "collections.Counter": Counter,
            "copyreg._reconstructor": _safe_reconstructor,  # protocol 0/1 `copy_reg` maps here
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


#: A call may ask for at most this many bytes, or `ALLOCATION_FACTOR` times the file's size if larger.
MIN_ALLOCATION_BYTES = 64 << 20
ALLOCATION_FACTOR = 8

_source_bytes: contextvars.ContextVar[int | None] = contextvars.ContextVar("source_bytes", default=None)


@contextlib.contextmanager
def source_size(n_bytes: int) -> Iterator[None]:
    """Tell the unpicklers opened inside the block how large the whole file is (the allocation budget)."""
    token = _source_bytes.set(n_bytes)
    try:
        yield
    finally:
        _source_bytes.reset(token)


def _stream_size(file: Any) -> int:
    try:
        if isinstance(file, io.BytesIO):
            return file.getbuffer().nbytes
        here = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(here)
        return int(end)
    except (AttributeError, OSError, ValueError):
        return 0


def _elements(value: Any) -> float:
    """How many elements copying `value` would produce (inf for a range too long to measure)."""
    if isinstance(value, range):
        try:
            return len(value)
        except OverflowError:
            return math.inf
    if isinstance(value, (tuple, list)):
        return len(value) + sum(_elements(v) for v in value if isinstance(v, range))
    return 0


def _requested_bytes(func: Any, args: tuple) -> float:
    """Bytes a call of a trusted callable would allocate beyond what the pickle itself holds."""
    if func is torch._tensor._rebuild_from_type_v2 and len(args) >= 3 and isinstance(args[2], tuple):
        return _requested_bytes(args[0], args[2])  # it calls args[0](*args[2])
    if func is torch._utils._rebuild_qtensor and len(args) >= 3 and isinstance(args[2], (tuple, list)):
        sizes = [s for s in args[2] if isinstance(s, int)]
        return math.prod(sizes) * 8 if len(sizes) == len(args[2]) else math.inf  # allocated before set_
    if func in (bytes, bytearray) and args and isinstance(args[0], int) and not isinstance(args[0], bool):
        return max(args[0], 0)
    if func is str and args and not isinstance(args[0], (str, bytes, bytearray, int, float, complex, type(None))):
        return math.inf  # str() of a container: its text grows exponentially with shared references
    return 8 * sum(_elements(arg) for arg in args)


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


class Unpickler(pickle._Unpickler):
    """CPython's reference unpickler with globals through `resolve_global`; torch.load subclasses it."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: Any, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._globals: dict[int, str] = {}  # id -> name of every object the pickle named as a global
        size = _source_bytes.get()
        self.allocation_limit = max(MIN_ALLOCATION_BYTES, ALLOCATION_FACTOR * (size or _stream_size(file)))

    def find_class(self, module: str, name: str) -> Any:
        """`pickle.Unpickler.find_class`'s protocol-dependent name mapping, then `resolve_global`."""
        sys.audit("pickle.find_class", module, name)
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        obj = resolve_global(module, name)
        self._globals[id(obj)] = f"{module}.{name}"
        return obj

    # --- nothing outside the returned object may change -------------------------------------------

    def _refuse_shared(self, target: Any, opcode: str) -> None:
        name = self._globals.get(id(target))
        if name is None and (isinstance(target, type) or inspect.ismodule(target) or inspect.isroutine(target)):
            name = _describe(target)
        if name is not None:
            raise UnsafePickleError(
                f"the pickle's {opcode} would modify {name}, which lives outside the file (process-wide state); "
                "nothing was changed"
            )

    def _check_call(self, func: Any, args: tuple) -> None:
        if isinstance(func, type) and issubclass(func, ForeignObject):
            return  # placeholders only record their arguments
        wanted = _requested_bytes(func, args)
        if wanted > self.allocation_limit:
            amount = "an unbounded amount" if math.isinf(wanted) else f"{wanted / 2**30:.1f} GiB"
            raise UnsafePickleError(
                f"the pickle calls {_describe(func)}(...) asking for {amount} of memory, far beyond the "
                f"{self.allocation_limit / 2**20:.0f} MiB this file may use; nothing was allocated"
            )

    def load_build(self) -> None:
        self._refuse_shared(self.stack[-2], "BUILD")
        pickle._Unpickler.load_build(self)

    def load_setitem(self) -> None:
        self._refuse_shared(self.stack[-3], "SETITEM")
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self) -> None:
        self._refuse_shared(self.metastack[-1][-1], "SETITEMS")
        pickle._Unpickler.load_setitems(self)

    def load_append(self) -> None:
        self._refuse_shared(self.stack[-2], "APPEND")
        pickle._Unpickler.load_append(self)

    def load_appends(self) -> None:
        self._refuse_shared(self.metastack[-1][-1], "APPENDS")
        pickle._Unpickler.load_appends(self)

    def load_additems(self) -> None:
        self._refuse_shared(self.metastack[-1][-1], "ADDITEMS")
        pickle._Unpickler.load_additems(self)

    # --- calls: refuse allocation requests far beyond the file's size ------------------------------

    def load_reduce(self) -> None:
        self._check_call(self.stack[-2], self.stack[-1])
        pickle._Unpickler.load_reduce(self)

    def load_newobj(self) -> None:
        self._check_call(self.stack[-2], self.stack[-1])
        pickle._Unpickler.load_newobj(self)

    def load_newobj_ex(self) -> None:
        self._check_call(self.stack[-3], self.stack[-2])
        pickle._Unpickler.load_newobj_ex(self)

    def _instantiate(self, klass: Any, args: list) -> None:  # INST and OBJ
        self._check_call(klass, tuple(args))
        pickle._Unpickler._instantiate(self, klass, args)

    for _opcode, _method in (
        (pickle.BUILD, load_build),
        (pickle.SETITEM, load_setitem),
        (pickle.SETITEMS, load_setitems),
        (pickle.APPEND, load_append),
        (pickle.APPENDS, load_appends),
        (pickle.ADDITEMS, load_additems),
        (pickle.REDUCE, load_reduce),
        (pickle.NEWOBJ, load_newobj),
        (pickle.NEWOBJ_EX, load_newobj_ex),
    ):
        dispatch[_opcode[0]] = _method
    del _opcode, _method


def load(file: Any, **kwargs: Any) -> Any:
    """`pickle.load` with the restricted unpickler (torch's legacy format calls this for its headers)."""
    return Unpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs: Any) -> Any:
    return Unpickler(io.BytesIO(data), **kwargs).load()


_THIS_MODULE = sys.modules[__name__]


def load_torch_pickle(path: str | Path) -> Any:
    """Unpickle a torch file of any serialization format onto the CPU, with inert foreign objects."""
    path = Path(path)
    fmt = container_format(path)
    if fmt == "zip" and not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: truncated or damaged zip archive (no central directory)")
    try:
        with source_size(path.stat().st_size):
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
    except MemoryError:
        raise WeightsError(
            f"{path}: not a readable torch file: it asks for more memory than this machine has"
        ) from None
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError, OSError) as error:
        raise WeightsError(f"{path}: not a readable torch file, truncated or damaged ({_one_line(error)})") from None
    except (TypeError, AttributeError, IndexError, OverflowError, RecursionError) as error:  # malformed opcodes
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
    "source_size",
]
