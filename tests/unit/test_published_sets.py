"""The committed mask sets in masks/: intact, regenerable, described truthfully, small, linked from the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpaintbench.masks import PUBLISHED_ROOT, STANDARD_SETS, check_published
from inpaintbench.masks.published import sets_table


def test_every_standard_set_is_committed_intact_and_regenerates() -> None:
    """Hashes, ratios and counts of every file; every 7th mask re-rendered by today's generator.

    A generator change that alters a published set fails here until the protocol's version is
    bumped (and `inpaintbench masks publish` writes the new version's sets beside the old ones).
    """
    assert check_published() == []


@pytest.mark.slow
def test_every_published_mask_regenerates_bit_for_bit() -> None:
    assert check_published(regenerate=True) == []


def test_masks_readme_table_is_the_sets_as_they_are() -> None:
    assert sets_table() in (PUBLISHED_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_sets_stay_small_enough_to_ship() -> None:
    total = sum(p.stat().st_size for p in PUBLISHED_ROOT.rglob("*") if p.is_file())
    assert total < 8_000_000, f"masks/ holds {total / 1e6:.1f} MB"


def test_readme_protocol_table_links_every_published_set(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| protocol | what |") :].split("\n\n", 1)[0]
    for name, spec in STANDARD_SETS.items():
        row = next(line for line in table.splitlines() if f"`{spec.protocol}`" in line.split("|")[1])
        assert f"[{name}](masks/{name}/)" in row
        assert (repo_root / "masks" / name / "manifest.json").is_file()
