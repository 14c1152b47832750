"""Official releases (timm's "pretrained entries"): the typed record and the registry they join.

Each family declares its releases as a table in its own file (`PRETRAINED` in archs/<family>.py):
where they are published, file names, licence, hashes.

Hashes are recorded only where known from the publisher; `sha256=None` means unknown (a download
then records the hash it got and says so). `url=None` means a manual download (Google Drive /
Yandex Disk pages that need a browser); `inpaintbench weights fetch` handles direct URLs only.
Files are looked up in the torch hub cache, `$TORCH_HOME/hub/checkpoints/<local_path>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from inpaintbench.registry import Registry


@dataclass(frozen=True)
class Release:
    """One published weight file (or archive holding it)."""

    name: str  # release id, e.g. "big-lama"
    model: str  # registry name it loads into
    dataset: str
    published_at: str  # the page that links the weights
    files: tuple[str, ...]  # file names as published (the first is what we load)
    licence: str
    url: str | None = None  # direct download URL; None = manual download
    sha256: str | None = None  # of the downloaded file (the archive when archive_member is set)
    archive_member: str | None = None  # path inside a zip archive of the file to load
    notes: str = ""

    @property
    def manual(self) -> bool:
        return self.url is None

    @property
    def local_path(self) -> Path:
        """Where the loadable file lives under the hub cache's checkpoints/ folder."""
        return Path(self.name) / (self.archive_member or self.files[0])

    @property
    def download_name(self) -> str:
        return Path(self.url).name if self.url else self.files[0]


def hub_checkpoints_dir() -> Path:
    """`$TORCH_HOME/hub/checkpoints` (torch's rules for TORCH_HOME / XDG_CACHE_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(release: Release) -> Path:
    return hub_checkpoints_dir() / release.local_path


#: release id -> Release; each family registers its own (`PRETRAINED` in archs/<family>.py).
RELEASES: Registry[Release] = Registry("official release", populate="inpaintbench.model_registry:load_families")


def register_releases(releases: tuple[Release, ...]) -> tuple[Release, ...]:
    """Register a family's table of official releases (ids are unique across families)."""
    for release in releases:
        RELEASES.register(release.name)(release)
    return releases


def releases_for(model: str) -> list[Release]:
    return [RELEASES.get(name) for name in RELEASES.names() if RELEASES.get(name).model == model]


def find_release(name: str) -> Release:
    """A release by its id, or the single direct-download release of a model name."""
    if name in RELEASES:
        return RELEASES.get(name)
    direct = [release for release in releases_for(name) if not release.manual]
    if len(direct) == 1:
        return direct[0]
    return RELEASES.get(name)  # raises with did-you-mean suggestions


def release_table() -> list[dict[str, Any]]:
    """Known official releases per model and whether each is present in the torch hub cache."""
    rows = []
    for name in RELEASES.names():
        release = RELEASES.get(name)
        path = cached_path(release)
        rows.append(
            {
                "release": name,
                "model": release.model,
                "dataset": release.dataset,
                "files": list(release.files),
                "licence": release.licence,
                "download": "manual" if release.manual else "direct",
                "where": release.url or release.published_at,
                "sha256": release.sha256 or "unknown",
                "path": str(path),
                "present": path.exists(),
                "notes": release.notes,
            }
        )
    return rows


def print_release_table(rows: list[dict[str, Any]]) -> None:
    """The release part of `inpaintbench weights`: one line per release, then where to put it."""
    for row in rows:
        state = "present" if row["present"] else f"missing ({row['download']} download)"
        print(f"{row['release']:<24} {row['model']:<13} {row['dataset']:<30} {state}")
        print(f"    licence {row['licence']}")  # whole: a cut licence text misleads
        print(f"    from {row['where']}")
        print(f"    file {row['path']}  sha256 {row['sha256']}")
