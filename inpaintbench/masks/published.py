"""Published mask sets: the committed `masks/<protocol>-v<version>-<size>/` folders, and evaluating with one.

The standard sets (`STANDARD_SETS`) are one per evaluation protocol and size (256, 512). A set's
name carries its protocol version, so a generator change that bumps the version asks for a new set
(`inpaintbench masks publish` writes it) while the old folder stays, frozen: still checked by hash,
no longer regenerated. `check_published` is what `inpaintbench masks check` and `make test` run.

Pairing rule of the `published` protocol (documented in masks/README.md): a set holds G groups of
masks, group g being the masks written for the set's g-th id `mask_<g:06d>` (for `irregular` one
mask per bucket, so 6; for the others 1). The evaluated image ids are sorted by code point; the image
of rank k gets every mask of group k mod G. Two labs with the same image ids get the same pairs, and
a prefix of the sorted ids (`limit=N`) keeps its pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.mask_sets import (
    MANIFEST,
    check_mask_set,
    file_sha256,
    find_mask_sets,
    load_mask_png,
    read_manifest,
    write_mask_set,
)
from inpaintbench.masks.protocol import (
    PROTOCOLS,
    REQUIRED,
    MaskProtocol,
    MaskSample,
    get_protocol,
    register_protocol,
    unique_ids,
)

#: The committed sets of this checkout.
PUBLISHED_ROOT = Path(__file__).resolve().parents[2] / "masks"
SIZES: tuple[int, ...] = (256, 512)
#: Groups (anonymous ids) per standard set; the reason for the numbers is in masks/README.md.
GROUPS: dict[str, int] = {
    "irregular": 100,
    "lama_thin": 200,
    "lama_medium": 400,
    "lama_thick": 200,
    "box_random": 200,
    "box_center": 1,
}
#: Regenerate every k-th file in the default check (7 is prime to the 6 irregular buckets, so all are hit).
DEFAULT_REGENERATE_EVERY = 7


@dataclass(frozen=True)
class SetSpec:
    """One standard set: a protocol config drawn at size x size for `groups` anonymous ids."""

    protocol: str
    size: int
    groups: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return int(PROTOCOLS.get(self.protocol).version)

    @property
    def name(self) -> str:
        return f"{self.protocol}-v{self.version}-{self.size}"

    def build(self) -> MaskProtocol:
        return get_protocol({"name": self.protocol, **self.params})

    def ids(self) -> list[str]:
        return [f"mask_{g:06d}" for g in range(self.groups)]


def _params(protocol: str, size: int) -> dict[str, Any]:
    """The parameters a standard set fixes: LaMa's row for the size; boxes scaled with the canvas."""
    if protocol.startswith("lama_"):
        return {"resolution": size}
    scale = size // 256
    if protocol == "box_center":
        return {"size": 128 * scale}
    if protocol == "box_random":
        return {"size": 128 * scale, "max_delta": 32 * scale}
    return {}


STANDARD_SETS: dict[str, SetSpec] = {
    spec.name: spec for spec in (SetSpec(p, s, n, _params(p, s)) for p, n in GROUPS.items() for s in SIZES)
}


def set_folder(name: str, root: str | Path | None = None) -> Path:
    """The folder of a set given by name (under `root`, default the checkout's masks/) or by path."""
    path = Path(name)
    if (path / MANIFEST).is_file():
        return path
    folder = Path(root or PUBLISHED_ROOT) / name
    if not (folder / MANIFEST).is_file():
        import difflib

        known = sorted(p.name for p in find_mask_sets(root or PUBLISHED_ROOT))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known) or 'none'})"
        raise MaskError(f"no published mask set '{name}' under {Path(root or PUBLISHED_ROOT)}{hint}")
    return folder


def publish(root: str | Path = PUBLISHED_ROOT, names: Iterable[str] | None = None) -> list[Path]:
    """Write the standard sets that are not in `root` yet; existing sets are never rewritten."""
    written = []
    for name in names or STANDARD_SETS:
        if name not in STANDARD_SETS:
            raise MaskError(f"'{name}' is not a standard set (known: {', '.join(STANDARD_SETS)})")
        spec = STANDARD_SETS[name]
        folder = Path(root) / name
        if folder.exists():
            continue
        write_mask_set(spec.build(), spec.ids(), folder, height=spec.size, width=spec.size)
        written.append(folder)
    return written


def check_published(
    root: str | Path = PUBLISHED_ROOT, *, regenerate: bool | int = DEFAULT_REGENERATE_EVERY
) -> list[str]:
    """Problems of the committed sets, one line each; [] when all is well.

    Every standard set of the current protocol versions must be present and made with its spec
    (config, size, groups); each set folder is checked against its manifest (`check_mask_set`),
    regenerating every `regenerate`-th file (True: all). Folders of older versions are frozen sets:
    checked by hash only, and they must stay (results cite them).
    """
    base = Path(root)
    problems: list[str] = []
    for name, spec in STANDARD_SETS.items():
        for older in range(1, spec.version):
            frozen = base / f"{spec.protocol}-v{older}-{spec.size}"
            if not (frozen / MANIFEST).is_file():
                problems.append(f"{frozen}: published set removed; published sets stay when a version is bumped")
        folder = base / name
        if not (folder / MANIFEST).is_file():
            problems.append(f"{folder}: standard set missing; write it with `inpaintbench masks publish`")
            continue
        manifest = read_manifest(folder)
        expected = {"config": spec.build().config(), "height": spec.size, "width": spec.size, "ids": spec.ids()}
        actual = {
            "config": manifest.get("config"),
            "height": manifest.get("height"),
            "width": manifest.get("width"),
            "ids": list(dict.fromkeys(entry["image_id"] for entry in manifest["files"])),
        }
        for key, value in expected.items():
            if actual[key] != value:
                problems.append(f"{folder / MANIFEST}: {key} differs from the standard set's spec")
    for folder in find_mask_sets(base):
        problems += check_mask_set(folder, regenerate=regenerate)
    return problems


@register_protocol
class PublishedProtocol(MaskProtocol):
    """Masks of a published set, paired with images by the rule in this module's docstring.

    The set's files are checked against its manifest when the protocol is built; the protocol id
    names the set and the first 8 hex digits of its manifest's SHA-256 (which lists every file's
    SHA-256), so results on two different sets can never share an id.
    """

    name = "published"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"set": REQUIRED, "root": None}

    def validate(self) -> None:
        folder = set_folder(str(self.params["set"]), self.params["root"])
        problems = check_mask_set(folder)
        if problems:
            raise MaskError(
                f"published set {folder} fails its check ({len(problems)} problem(s), first: {problems[0]}); "
                "run `inpaintbench masks check`"
            )
        manifest = read_manifest(folder)
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in manifest["files"]:
            groups.setdefault(str(entry["image_id"]), []).append(entry)
        self.folder = folder
        self.set_name = folder.name
        self.size = (int(manifest["height"]), int(manifest["width"]))
        self.groups = list(groups.values())
        self.manifest_sha256 = file_sha256(folder / MANIFEST)
        self._cache: dict[str, np.ndarray] = {}

    @property
    def protocol_id(self) -> str:
        return f"{self.name}@v{self.version}/{self.set_name}/m{self.manifest_sha256[:8]}"

    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        ids = unique_ids(image_ids, self.name)
        rank = {image_id: k for k, image_id in enumerate(sorted(ids))}
        return [
            MaskSample(f"{image_id}#{entry['name']}", image_id, str(entry["label"]), int(entry["index"]))
            for image_id in ids
            for entry in self.groups[rank[image_id] % len(self.groups)]
        ]

    def mask_file(self, sample: MaskSample) -> Path:
        """The file a sample's mask is read from (the runner hashes it into the run's identity)."""
        return self.folder / sample.mask_id.rsplit("#", 1)[1]

    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        if (height, width) != self.size:
            raise MaskError(
                f"published set {self.set_name} holds {self.size[1]}x{self.size[0]} masks, image '{sample.image_id}' "
                f"is {width}x{height}; evaluate at data.size={self.size[0]} or use a set of the image's size"
            )
        name = sample.mask_id.rsplit("#", 1)[1]
        if name not in self._cache:
            self._cache[name] = load_mask_png(self.folder / name)
        return self._cache[name].copy()


def sets_table(root: str | Path = PUBLISHED_ROOT) -> str:
    """The Markdown table of masks/README.md: one row per set with its measured bin counts.

    A test compares it with the README, so the published description cannot drift from the files.
    """
    from inpaintbench.masks.ratio import RATIO_BINS

    lines = [
        "| set | protocol | size | groups | masks | " + " | ".join(RATIO_BINS) + " | manifest sha256 |",
        "|---" * (6 + len(RATIO_BINS)) + "|",
    ]
    for folder in find_mask_sets(root):
        manifest = read_manifest(folder)
        counts = {name: 0 for name in RATIO_BINS}
        for entry in manifest["files"]:
            counts[entry["bin"]] += 1
        groups = len({entry["image_id"] for entry in manifest["files"]})
        lines.append(
            f"| [{folder.name}]({folder.name}/) | {manifest['protocol_id']} | {manifest['width']}x{manifest['height']} "
            f"| {groups} | {manifest['count']} | "
            + " | ".join(str(counts[name]) for name in RATIO_BINS)
            + f" | `{file_sha256(folder / MANIFEST)[:8]}` |"
        )
    return "\n".join(lines)
