"""One small registry for everything a user names: models, mask protocols, metrics.

A name typed on the command line, a config file name and the name in a results table are the
same string, so lookups fail loudly with the closest known names instead of a bare KeyError.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; the message carries did-you-mean suggestions."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain sentence.
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object plus free-form metadata (paper, licence, default size ...)."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Maps names to objects; `kind` only appears in messages ("unknown model 'lama_bigg'").

    `populate` ("package.module:function") names what registers the entries (the model families
    register at import); it runs once, at the first lookup, so the registry is never seen half
    filled and `inpaintbench --help` imports no model code.
    """

    def __init__(self, kind: str, populate: str | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._populate = populate

    def _populated(self) -> dict[str, Entry[T]]:
        if self._populate is not None:
            target, self._populate = self._populate, None
            module, _, function = target.partition(":")
            getattr(importlib.import_module(module), function)()
        return self._entries

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("pconv_unet", paper="Liu 2018")`. Re-registering is an error."""

        def add(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ValueError(f"cannot register an unnamed {self.kind}")
            if key in self._entries and self._entries[key].obj is not obj:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = Entry(key, obj, dict(meta))
            return obj

        return add

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._populated()[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._populated() if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._populated()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._populated())

    def _unknown_message(self, name: str) -> str:
        return unknown_name_message(self.kind, name, self.names())


def unknown_name_message(kind: str, name: str, known: Sequence[str]) -> str:
    """One line: the unknown name, the closest known ones, and all of them."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} '{name}'{hint} (known: {', '.join(known) or 'none'})"


def import_submodules(package: str) -> None:
    """Import every module directly in `package` (not its subpackages, not `_private` ones): plugin
    discovery, so a new model family or training recipe is one new file and no list to extend."""
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
