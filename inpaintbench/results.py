"""Results store: one directory per evaluation run, append-only shard files, resume, provenance.

Layout (deterministic, so rerunning the same command finds its own run):

    <results>/runs/<model>/<protocol slug>/<data>/<run hash[:12]>/
        run.json                 provenance: full run hash, its inputs, the resolved config
        shards/000000.jsonl      per-sample rows of samples [0, S) of the canonical sample order
        shards/000000.<feat>.npy per-sample feature arrays (e.g. inception_real), rows aligned

Choices, named:
- **Changed input -> new directory.** The run hash covers the model (weights sha256), the content
  of every image and mask file read (sha256 per file, listed in the run's `manifest.json`), the
  preprocessing, the protocol id and version, the metric configuration (and the feature
  extractors' weight ids), the device and the batch size. Any change lands in a different
  directory, so old rows never mix with new ones; a `run.json` whose hash disagrees with its
  directory, or that cannot be read, is an error naming the file.
- **Atomic shards.** Each file is written to a temporary name and renamed. The feature arrays are
  written first and the `.jsonl` last: a shard exists only once its rows file exists, so a crash
  (Ctrl-C, kill -9) never leaves a half-written shard, only stray temporaries that are ignored.
  A failed write (disk full) removes its temporary and raises one line naming the file.
- **Checked shards.** A shard must hold exactly the rows of its sample range (`check_shard`); a
  truncated or edited shard file is refused with its name, never silently aggregated.
- **One writer per shard.** A process claims a shard with a lock file (`locks/<k>.lock`, the
  `filelock` package) before computing it, so two identical evaluations started together share
  the work and never write a shard twice.
- **Fixed shard boundaries.** Shard k always holds samples [k*S, (k+1)*S) of the canonical order,
  so an interrupted and resumed run has byte-identical shards to an uninterrupted one and the
  aggregated table is identical (also for N processes taking shards k = rank mod N).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from inpaintbench.errors import InpaintbenchError
from inpaintbench.io.atomic import atomic_write

RUN_FILE = "run.json"
SHARD_DIGITS = 6


class RunMismatchError(InpaintbenchError, RuntimeError):
    """A run directory whose recorded inputs differ from the current ones."""


class RunRecordError(InpaintbenchError):
    """A run's `run.json` (or another record of it) that cannot be read; the message names the file."""


class ShardError(InpaintbenchError):
    """A shard file that does not hold exactly the rows of its sample range (truncated, edited)."""


class ResultsWriteError(InpaintbenchError, OSError):
    """A results file that could not be written (disk full, permissions); nothing finished is lost."""


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (the same on every machine)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def slug(text: str) -> str:
    """A path-safe rendering of a protocol id such as 'irregular@v1/seed0'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


def _atomic_write(path: Path, write: Any) -> None:
    """`write(handle)` into a temporary beside `path`, fsync, rename; on failure the temporary is
    removed and one line names the file (a full disk must not leave debris or a traceback)."""
    try:
        atomic_write(path, write)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ResultsWriteError(
            f"{path}: cannot write ({reason}); finished shards are kept, fix this and rerun the same command to resume"
        ) from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    _atomic_write(path, lambda handle: np.save(handle, np.ascontiguousarray(array), allow_pickle=False))


def make_dirs(path: Path) -> None:
    """mkdir -p with the same one-line error as the writers."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ResultsWriteError(f"{path}: cannot create folder ({error.strerror or error})") from None


def dump_json(obj: Any) -> str:
    """The one JSON rendering of results files: sorted keys, and no NaN or infinity (a ValueError
    instead: a non-finite number must never reach a shard or a summary)."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"


def read_json_file(path: Path) -> Any:
    """A results JSON file; unreadable or corrupt -> RunRecordError naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunRecordError(f"{path}: unreadable or corrupt ({error}); move this run away or delete it") from None


@dataclass(frozen=True)
class RunKey:
    """What names a run directory; `inputs` is everything the run hash covers."""

    model: str
    protocol_id: str
    data: str
    inputs: Mapping[str, Any]

    @property
    def run_hash(self) -> str:
        return stable_hash(dict(self.inputs))


class RunStore:
    """One run directory: provenance, shard writing and reading."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.shard_dir = self.path / "shards"

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def for_key(cls, results_root: str | Path, key: RunKey) -> Path:
        return (
            Path(results_root) / "runs" / slug(key.model) / slug(key.protocol_id) / slug(key.data) / key.run_hash[:12]
        )

    @classmethod
    def open(
        cls, results_root: str | Path, key: RunKey, config: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> RunStore:
        """Create the run directory, or reopen it after checking its recorded hash (resume)."""
        store = cls(cls.for_key(results_root, key))
        run_file = store.path / RUN_FILE
        if run_file.exists():
            recorded = store.record()
            if recorded["run_hash"] != key.run_hash:
                raise RunMismatchError(
                    f"{run_file}: recorded run hash {str(recorded['run_hash'])[:12]} differs from the current "
                    f"inputs' {key.run_hash[:12]}; move the directory away or delete it"
                )
            return store
        make_dirs(store.shard_dir)
        record = {
            "model": key.model,
            "protocol_id": key.protocol_id,
            "data": key.data,
            "run_hash": key.run_hash,
            "inputs": dict(key.inputs),
            "config": dict(config),
            **dict(extra or {}),
        }
        atomic_write_text(run_file, dump_json(record))
        return store

    def record(self) -> dict[str, Any]:
        record = read_json_file(self.path / RUN_FILE)
        if not isinstance(record, dict) or not {"model", "protocol_id", "data", "run_hash"} <= set(record):
            raise RunRecordError(f"{self.path / RUN_FILE}: not a run record; move this run away or delete it")
        return record

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, dump_json(obj))

    def read_json(self, name: str) -> Any | None:
        path = self.path / name
        return read_json_file(path) if path.exists() else None

    # -- shards -----------------------------------------------------------------------------
    def _rows_path(self, index: int) -> Path:
        return self.shard_dir / f"{index:0{SHARD_DIGITS}d}.jsonl"

    def _feature_path(self, index: int, name: str) -> Path:
        return self.shard_dir / f"{index:0{SHARD_DIGITS}d}.{name}.npy"

    def done_shards(self) -> list[int]:
        """Indices of complete shards (those whose rows file exists), ascending."""
        if not self.shard_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.shard_dir.glob("*.jsonl") if p.stem.isdigit())

    def write_shard(self, index: int, rows: Sequence[Mapping[str, Any]], features: Mapping[str, np.ndarray]) -> None:
        """Write one shard: feature arrays first, the rows file (the commit marker) last."""
        for name, array in features.items():
            if len(array) != len(rows):
                raise ValueError(f"shard {index}: feature '{name}' has {len(array)} rows for {len(rows)} samples")
            atomic_save_npy(self._feature_path(index, name), array)
        text = "".join(json.dumps(dict(row), sort_keys=True, allow_nan=False) + "\n" for row in rows)
        atomic_write_text(self._rows_path(index), text)

    def read_rows(self, index: int) -> list[dict[str, Any]]:
        path = self._rows_path(index)
        try:
            with open(path) as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except (OSError, ValueError) as error:
            raise ShardError(f"{path}: unreadable shard ({error}); delete it and rerun to recompute it") from None

    def check_shard(self, index: int, start: int, count: int) -> list[dict[str, Any]]:
        """The rows of shard `index`, refused unless they are exactly samples [start, start + count)."""
        rows = self.read_rows(index)
        found = [row.get("index") for row in rows]
        if found != list(range(start, start + count)):
            raise ShardError(
                f"{self._rows_path(index)}: holds {len(rows)} row(s), expected samples {start}..{start + count - 1} "
                "(truncated or edited); delete it and rerun to recompute it"
            )
        return rows

    def shard_lock(self, index: int) -> FileLock:
        """The lock a process holds while it computes shard `index` (see the module docstring)."""
        folder = self.path / "locks"
        make_dirs(folder)
        return FileLock(folder / f"{index:0{SHARD_DIGITS}d}.lock")

    def read_features(self, index: int, name: str, mmap: bool = True) -> np.ndarray | None:
        path = self._feature_path(index, name)
        if not path.exists():
            return None
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Every per-sample row, in canonical sample order."""
        for index in self.done_shards():
            yield from self.read_rows(index)

    def feature_rows(self, name: str, positions: Sequence[tuple[int, int]]) -> ShardFeatureRows:
        return ShardFeatureRows(self, name, positions)


class ShardFeatureRows:
    """Feature vectors of selected samples, read from the memory-mapped shard files on demand.

    `positions` lists (shard index, row within shard); indexing with an index array gathers only
    those rows, so a KID subset is the only part ever in memory.
    """

    def __init__(self, store: RunStore, name: str, positions: Sequence[tuple[int, int]]) -> None:
        self.store = store
        self.name = name
        self.positions = list(positions)
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.positions)

    def _shard(self, index: int) -> np.ndarray:
        if index not in self._maps:
            array = self.store.read_features(index, self.name)
            if array is None:
                raise FileNotFoundError(f"{self.store.shard_dir}: shard {index} has no '{self.name}' features")
            self._maps[index] = array
        return self._maps[index]

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        picks = [self.positions[i] for i in np.asarray(index).ravel()]
        return np.stack([np.asarray(self._shard(s)[r], dtype=np.float64) for s, r in picks])


def shard_ranges(n_samples: int, shard_size: int) -> list[tuple[int, int, int]]:
    """(shard index, first sample, end) of every shard of a run: fixed boundaries, the unit of
    resumption (and of distribution)."""
    return [(k, start, min(start + shard_size, n_samples)) for k, start in enumerate(range(0, n_samples, shard_size))]


def run_problem(store: RunStore, record: Mapping[str, Any]) -> str | None:
    """Why a run cannot enter a table (incomplete, a damaged shard, no summary), or None when it can."""
    n_samples, shard_size = record.get("n_samples"), record.get("inputs", {}).get("shard_size")
    if not isinstance(n_samples, int) or not isinstance(shard_size, int) or shard_size < 1:
        return f"{store.path / RUN_FILE}: records no sample count or shard size"
    done = set(store.done_shards())
    finished = 0
    try:
        for index, start, end in shard_ranges(n_samples, shard_size):
            if index not in done:
                return f"incomplete: {finished} of {n_samples} samples"
            store.check_shard(index, start, end - start)
            finished = end
        if store.read_json("summary.json") is None:
            return f"incomplete: {n_samples} samples scored but not aggregated (rerun the same eval)"
    except (ShardError, RunRecordError) as error:
        return str(error)
    return None


def find_runs(results_root: str | Path) -> list[RunStore]:
    """Every run directory under `<results>/runs`, in sorted path order."""
    root = Path(results_root) / "runs"
    if not root.is_dir():
        return []
    return [RunStore(p.parent) for p in sorted(root.glob(f"**/{RUN_FILE}"))]


class ArrayCache:
    """Content-addressed store of small arrays: `<root>/<key[:2]>/<key>.npy`, written atomically.

    Keys are sha256 hex strings of the content they describe (completed image bytes + extractor
    id, or sample key + model key), so entries are valid across runs and never need invalidating.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return None  # an unreadable entry is recomputed and overwritten

    def put(self, key: str, array: np.ndarray) -> None:
        path = self._path(key)
        make_dirs(path.parent)
        atomic_save_npy(path, array)
