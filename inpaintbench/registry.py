"""One small registry for everything a user names: models, mask protocols, metrics.

A name typed on the command line, a config file name and the name in a results table are the
same string, so lookups fail loudly with the closest known names instead of a bare KeyError.
"""

from __future__ import annotations

import difflib
import fnmatch
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
    """Maps names to objects; `kind` only appears in messages ("unknown model 'lama_bigg'")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

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
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def _unknown_message(self, name: str) -> str:
        return unknown_name_message(self.kind, name, self.names())


def unknown_name_message(kind: str, name: str, known: Sequence[str]) -> str:
    """One line: the unknown name, the closest known ones, and all of them."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} '{name}'{hint} (known: {', '.join(known) or 'none'})"
