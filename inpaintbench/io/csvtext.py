"""The one CSV rendering of result tables: a header, `\n` line ends, floats as `repr` (round-trip exact)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def csv_cell(value: Any) -> Any:
    """None -> empty, float -> repr (so a re-read float is bit-identical), anything else as csv writes it."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else value


def csv_text(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({f: csv_cell(row.get(f)) for f in fields})
    return buffer.getvalue()
