"""The model zoo: exported generator weights (`models/<arch>.<tag>.safetensors`) and their cards.

A card is the YAML beside the weights that says what they are: architecture and arguments, training
data (with its manifest hash), steps, wall time, active losses and weights, seed, sha256, and the
command that reproduces them. `inpaintbench zoo` lists the cards.

Two folders hold checkpoints: the committed zoo (`paths.models`, `models/`), which the benchmark,
the regression and the leaderboard evaluate, and your own exports (`paths.exports`,
`outputs/models/`, git-ignored), where `inpaintbench train` writes. Both are evaluable by name:
`inpaintbench eval model=<arch>.<tag>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inpaintbench.config import REPO_ROOT
from inpaintbench.errors import InpaintbenchError
from inpaintbench.results import atomic_write_text
from inpaintbench.weights import save_safetensors, sha256_file

DEFAULT_MODELS_DIR = REPO_ROOT / "models"


@dataclass(frozen=True)
class ZooEntry:
    """One checkpoint in models/: `arch.tag` plus its card."""

    weights: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return self.weights.name.removesuffix(".safetensors")

    @property
    def arch(self) -> str:
        return str(self.card["arch"])


def card_path(weights: Path) -> Path:
    return weights.with_name(weights.name.removesuffix(".safetensors") + ".yaml")


def export_generator(state_dict: dict, out_dir: Path, arch: str, tag: str, card: dict[str, Any]) -> ZooEntry:
    """Write `<arch>.<tag>.safetensors` and its card; the card records the file's sha256."""
    weights = Path(out_dir) / f"{arch}.{tag}.safetensors"
    sha = save_safetensors(state_dict, weights, metadata={"arch": arch, "tag": tag})
    full_card = {"arch": arch, "tag": tag, **card, "sha256": sha, "file": weights.name}
    write_card(weights, full_card)
    return ZooEntry(weights, full_card)


def write_card(weights: Path, card: dict[str, Any]) -> Path:
    """The YAML card beside a weight file, written atomically."""
    card_file = card_path(weights)
    atomic_write_text(card_file, yaml.safe_dump(card, sort_keys=False))
    return card_file


def list_zoo(models_dir: str | Path | None = None) -> list[ZooEntry]:
    """Every `*.safetensors` with a card in `models_dir`, sorted by name; a missing card is an error."""
    root = Path(models_dir) if models_dir else DEFAULT_MODELS_DIR
    entries = []
    for weights in sorted(root.glob("*.safetensors")):
        card_file = card_path(weights)
        if not card_file.exists():
            raise InpaintbenchError(f"{weights}: no card {card_file.name} beside it")
        card = yaml.safe_load(card_file.read_text())
        if not isinstance(card, dict) or "arch" not in card:
            raise InpaintbenchError(f"{card_file}: not a model card (no 'arch')")
        entries.append(ZooEntry(weights, card))
    return entries


def find_entry(name: str, folders: Iterable[str | Path]) -> ZooEntry | None:
    """The checkpoint called `name` (`<arch>.<tag>`) in the first folder that has it, or None."""
    for folder in folders:
        if (Path(folder) / f"{name}.safetensors").is_file():
            return next(e for e in list_zoo(folder) if e.name == name)
    return None


def zoo_names(folders: Iterable[str | Path]) -> list[str]:
    """Every checkpoint name of existing folders (for did-you-mean suggestions)."""
    return sorted({e.name for folder in folders if Path(folder).is_dir() for e in list_zoo(folder)})


def entry_for_weights(weights: str | Path) -> ZooEntry | None:
    """The zoo entry a weight file belongs to (a card beside it that records its sha256), else None."""
    weights = Path(weights)
    card_file = card_path(weights)
    if weights.suffix != ".safetensors" or not card_file.is_file():
        return None
    card = yaml.safe_load(card_file.read_text())
    if not isinstance(card, dict) or "arch" not in card or card.get("sha256") != sha256_file(weights):
        return None
    return ZooEntry(weights, card)


def verify_entry(entry: ZooEntry) -> None:
    """The weights on disk are the ones the card describes."""
    actual = sha256_file(entry.weights)
    if actual != entry.card.get("sha256"):
        raise InpaintbenchError(
            f"{entry.weights}: sha256 {actual[:12]} differs from its card's {entry.card.get('sha256')}"
        )


def print_zoo(models_dir: str | Path | None = None, exports_dir: str | Path | None = None) -> list[Any]:
    """Print the committed zoo (models/) and your exports (outputs/models/): every checkpoint with
    arch, steps, size and card summary, under the name `inpaintbench eval model=` accepts."""
    from inpaintbench.config import default_paths

    paths = default_paths()
    folders = [
        ("committed zoo (bench, regress, leaderboard)", Path(models_dir or paths.models)),
        ("your exports (inpaintbench train)", Path(exports_dir or paths.exports)),
    ]
    everything = []
    for title, folder in folders:
        entries = list_zoo(folder) if folder.is_dir() else []
        print(f"{title}: {folder}" + ("" if entries else " (none)"))
        for entry in entries:
            card = entry.card
            size_mb = entry.weights.stat().st_size / 1e6
            print(
                f"  {entry.name:<32} arch={entry.arch:<18} params={card.get('parameters', '?'):>9} "
                f"steps={card.get('steps', '?'):>6} {size_mb:5.1f} MB  sha256={str(card.get('sha256'))[:12]}"
            )
        everything += entries
    print("evaluate one with: inpaintbench eval model=<name> masks=<protocol>")
    return everything
