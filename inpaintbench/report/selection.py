"""Which run a table shows when the results folder holds several of one model, dataset and protocol.

A results folder collects runs over time: a `limit`ed try, an older protocol version, another batch
size, an interrupted run. A table shows one run per (model, dataset, protocol) and says so:

- a run that is incomplete (fewer rows than its `n_samples`), has a damaged shard, no summary, or an
  unreadable `run.json` never enters a table; it is listed with the reason;
- among the complete runs, the newest protocol version wins, then the most samples, then the most
  recently created; every run left out is listed with the reason;
- `report select=HASH,...` (a run-hash prefix or a run directory) picks runs explicitly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpaintbench.errors import InpaintbenchError
from inpaintbench.results import RUN_FILE, RunRecordError, RunStore, find_runs, run_problem, slug


class SelectionError(InpaintbenchError):
    """A `select=` entry that names no run."""


@dataclass
class Candidate:
    store: RunStore
    record: dict[str, Any]
    problem: str | None

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.record["model"], self.record["data"], protocol_family(self.record["protocol_id"]))

    @property
    def rank(self) -> tuple[int, int, str]:
        """Higher is preferred: protocol version, then sample count, then creation time."""
        return (_version(self.record), int(self.record.get("n_samples") or 0), _created(self))


@dataclass
class RunChoice:
    shown: list[RunStore]
    not_shown: list[str]  # one line per run left out, naming it and the reason


def protocol_family(protocol_id: str) -> str:
    """The protocol id without its version (`irregular@v1/seed0` -> `irregular/seed0`)."""
    return re.sub(r"@v\d+", "", protocol_id)


def _version(record: dict[str, Any]) -> int:
    text = str(record.get("inputs", {}).get("protocol_version", "0")).lstrip("v")
    return int(text) if text.isdigit() else 0


def _created(candidate: Candidate) -> str:
    created = candidate.record.get("created")
    if created:
        return str(created)
    mtime = (candidate.store.path / RUN_FILE).stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="seconds")


def _matches(candidate: Candidate, token: str) -> bool:
    path = str(candidate.store.path)
    return candidate.record["run_hash"].startswith(token) or path == token.rstrip("/") or path.endswith(f"/{token}")


def _reason(left: Candidate, chosen: Candidate, explicit: bool) -> str:
    if left.problem:
        return left.problem
    if explicit:
        return "not the run picked by select="
    if _version(left.record) < _version(chosen.record):
        return f"older protocol version (v{_version(left.record)} < v{_version(chosen.record)})"
    if left.rank[1] < chosen.rank[1]:
        return f"fewer samples ({left.rank[1]} < {chosen.rank[1]}, e.g. a `limit`ed run)"
    if _content(left.record) != _content(chosen.record):
        return f"other file content under the same data name (set data.name to tell datasets apart); {_age(left)}"
    return f"older run ({_age(left)}, shown: {chosen.store.path.name} created {chosen.rank[2]})"


def _age(candidate: Candidate) -> str:
    return f"created {candidate.rank[2]}"


def _content(record: dict[str, Any]) -> tuple[Any, Any]:
    data = record.get("inputs", {}).get("data", {})
    return data.get("images_sha256"), data.get("masks_sha256")


def choose_runs(stores: Iterable[RunStore], select: Sequence[str] = (), root: Path | None = None) -> RunChoice:
    """One run per (model, data, protocol family); the others, and every unusable run, listed."""
    not_shown: list[str] = []
    groups: dict[tuple[str, str, str], list[Candidate]] = defaultdict(list)

    def name(store: RunStore) -> str:
        return str(store.path.relative_to(root)) if root is not None else str(store.path)

    for store in stores:
        try:
            record = store.record()
        except RunRecordError as error:
            not_shown.append(f"{name(store)}: unreadable, not shown ({error})")
            continue
        candidate = Candidate(store, record, run_problem(store, record))
        groups[candidate.group].append(candidate)
    used = set()
    shown: list[RunStore] = []
    for group in sorted(groups):
        candidates = groups[group]
        complete = [c for c in candidates if c.problem is None]
        picked = [c for c in complete if any(_matches(c, t) for t in select)]
        used.update(t for c in picked for t in select if _matches(c, t))
        chosen = picked[0] if picked else max(complete, key=lambda c: c.rank, default=None)
        if chosen is not None:
            shown.append(chosen.store)
        model, data, protocol = group
        for left in candidates:
            if left is not chosen:
                reason = _reason(left, chosen, bool(picked)) if chosen is not None else left.problem
                not_shown.append(f"{model} on {data} / {protocol}: {name(left.store)} not shown: {reason}")
    unknown = [t for t in select if t not in used]
    if unknown:
        raise SelectionError(f"select={unknown[0]}: no complete run has this run-hash prefix or directory")
    return RunChoice(shown, not_shown)


def find_run(results_root: Path, model: str, protocol_id: str, data: str) -> Any:
    """The run `compare` uses for `model` (a model name or a run directory): the complete run that
    `report` shows for this data and protocol; the others are named with the reason."""
    if Path(model).joinpath("run.json").is_file():
        store = RunStore(Path(model))
        problem = run_problem(store, store.record())
        if problem:
            raise InpaintbenchError(f"{store.path}: cannot compare this run: {problem}")
        return store

    def matches(store: RunStore) -> bool:
        try:
            record = store.record()
        except RunRecordError:
            return False
        same_protocol = slug(record["protocol_id"]) == slug(protocol_id)
        found = record["model"] == model and same_protocol and record["data"] == data
        return found and run_problem(store, record) is None  # only complete, undamaged runs

    runs = [r for r in find_runs(results_root) if matches(r)]
    if not runs:
        raise FileNotFoundError(
            f"no complete run of '{model}' on {data} / {protocol_id} under {results_root}/runs; "
            "run `inpaintbench eval` first"
        )
    if len(runs) == 1:
        return runs[0]
    choice = choose_runs(runs, root=results_root)  # the run `report` shows for this model, data and protocol
    chosen = choice.shown[0]
    where = chosen.path.relative_to(results_root)
    print(f"{model}: using {where} (the run `report` shows; a=/b= take a run directory to pick another)")
    for line in choice.not_shown:
        print(f"    {line.replace(' not shown: ', ' not used: ')}")
    return chosen
