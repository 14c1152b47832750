"""Known official releases per model: where they are published, file names, licence, hashes.

Hashes are recorded only where known from the publisher; `sha256=None` means unknown (a download
then records the hash it got and says so). `url=None` means a manual download (Google Drive /
Yandex Disk pages that need a browser); `inpaintbench weights fetch` handles direct URLs only.
Files are looked up in the torch hub cache, `$TORCH_HOME/hub/checkpoints/<local_path>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


RELEASES: Registry[Release] = Registry("official release")

_LAMA_PAGE = "https://github.com/advimman/lama (README, 'Download pre-trained models')"
_LAMA_LICENCE = "BSD-3-Clause (advimman/lama LICENSE)"

for _release in (
    Release(
        name="big-lama",
        model="lama_big",
        dataset="Places2 (Places365-Challenge)",
        published_at=_LAMA_PAGE,
        files=("big-lama.zip",),
        archive_member="big-lama/models/best.ckpt",
        licence=_LAMA_LICENCE,
        url="https://huggingface.co/smartywu/big-lama/resolve/main/big-lama.zip",
        notes="Hugging Face mirror linked from the README (also on Yandex Disk / Google Drive). "
        "sha256 of the zip unknown; a third-party record gives best.ckpt (410,046,389 bytes) a sha256 "
        "starting fccb7adf, not verified here.",
    ),
    Release(
        name="lama-fourier",
        model="lama_fourier",
        dataset="Places2 (Places365-Challenge)",
        published_at=_LAMA_PAGE + "; Yandex Disk https://disk.yandex.ru/d/ouP6l8VJ0HpMZg",
        files=("lama-fourier/models/best.ckpt",),
        licence=_LAMA_LICENCE,
        notes="Manual download (Yandex Disk / Google Drive folder of all LaMa models). sha256 unknown.",
    ),
    Release(
        name="pconv-port-places2",
        model="pconv_unet",
        dataset="Places2",
        published_at="https://github.com/naoto0804/pytorch-inpainting-with-partial-conv (GitHub release v0.0.0)",
        files=("1000000.pth",),
        licence="none stated (the repository has no LICENSE file)",
        notes="Unofficial PyTorch port (NVIDIA released no inpainting weights). Manual download from "
        "the v0.0.0 release page; sha256 unknown. torch 0.4 legacy format, Adam state on cuda:0.",
    ),
    Release(
        name="rfr-celeba",
        model="rfr_net",
        dataset="CelebA",
        published_at="https://github.com/jingyuanli001/RFR-Inpainting (README, Google Drive)",
        files=("checkpoint_celeba.pth",),
        licence="MIT (RFR-Inpainting LICENSE)",
        notes="Manual download (Google Drive); sha256 unknown.",
    ),
    Release(
        name="rfr-paris",
        model="rfr_net",
        dataset="Paris StreetView",
        published_at="https://github.com/jingyuanli001/RFR-Inpainting (README, Google Drive)",
        files=("checkpoint_paris.pth",),
        licence="MIT (RFR-Inpainting LICENSE)",
        notes="Manual download (Google Drive); file name as saved may differ (layout is detected from "
        "content); sha256 unknown. Places2 weights were never released.",
    ),
    *(
        Release(
            name=f"deepfill-v1-{tag}",
            model="deepfill_v1",
            dataset=dataset,
            published_at="https://github.com/JiahuiYu/generative_inpainting (branch v1.0.0 README, Google Drive)",
            files=("checkpoint", "snap-0.index", "snap-0.data-00000-of-00001", "snap-0.meta"),
            licence="CC BY-NC 4.0 (README: non-commercial, research use)",
            notes="Manual download of the folder release_" + tag + "_256/ (TensorFlow checkpoint; "
            "'checkpoint' may arrive as checkpoint.txt; snap-0.meta is not needed). BGR weights. "
            "sha256 unknown. Place the folder under the cache path shown.",
        )
        for tag, dataset in (
            ("places2", "Places2"),
            ("celeba_hq", "CelebA-HQ"),
            ("celeba", "CelebA"),
            ("imagenet", "ImageNet"),
        )
    ),
):
    RELEASES.register(_release.name)(_release)


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
