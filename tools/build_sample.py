"""Regenerate (or `--check`) the embedded sample set under data/sample/ from its two source packages.

    python -m tools.build_sample            # rebuild data/sample/{eval,train}/*.png + manifest.json
    python -m tools.build_sample --check    # verify the committed files against the manifest

Sources (real photographs whose licences allow redistribution; data/README.md has the credits):
- the scikit-image 0.26.0 wheel (`skimage/data/`): the train pool's astronaut, rocket, coffee,
  chelsea, hubble_deep_field, retina and ihc images (public domain / CC0 / no known restrictions).
  `motorcycle_left` is left out: its docstring states no licence.
- Debian's `plasma-workspace-wallpapers` 4:5.27.5-2 (GPL-2+ per Debian's copyright file): the
  photographs among its wallpapers (illustrations are left out). The .deb is fetched with
  `apt-get download` and unpacked with `dpkg-deb -x` unless `--wallpapers DIR` names an unpacked copy.

Eval crops come from nine colour wallpaper photos, train crops from the other sources only, so the
two splits never share a source photo. Large photos are first downscaled (Lanczos) so a 256x256 crop
holds a scene rather than a texture patch; crops sit on an even grid over the downscaled frame.

Every source file is checked against its recorded sha256, so a rebuild reads exactly the same
inputs. The PNG bytes are then byte-identical given the same Pillow (13.0.0, zlib 1.2.13, bundled
libjpeg-turbo 3.x): the manifest records both the file sha256 and the sha256 of the decoded pixels,
and a rebuild under another Pillow/zlib that changes only the compression still matches the latter.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, features

from inpaintbench.data.images import decode_rgb8

CROP_SIZE = 256
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
MANIFEST_NAME = "manifest.json"
SPLITS = ("eval", "train")

SKIMAGE = "scikit-image"
SKIMAGE_VERSION = "0.26.0"
WALLPAPERS = "plasma-workspace-wallpapers"
WALLPAPERS_VERSION = "4:5.27.5-2"
WALLPAPERS_DEB_SHA256 = "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b"

WALLPAPER_LICENCE = "GPL-2+"
WALLPAPER_LICENCE_NOTE = (
    "Debian copyright file of plasma-workspace-wallpapers (Files: *, KDE Visual Design Group) says GPL-2+; "
    "the wallpaper's own metadata.json says LGPLv3. Both allow redistribution with attribution."
)


class SampleBuildError(RuntimeError):
    """The sources are missing or differ from the recorded ones."""


@dataclass(frozen=True)
class Grid:
    """Downscale the shorter side to `short_side` (None: native size), then cut cols x rows crops."""

    short_side: int | None
    cols: int
    rows: int


@dataclass(frozen=True)
class Source:
    key: str  # file-name stem of its crops
    package: str
    file: str  # path inside the package (wheel or .deb)
    sha256: str
    licence: str
    credit: str
    split: str
    grids: tuple[Grid, ...]
    note: str = ""

    @property
    def version(self) -> str:
        return SKIMAGE_VERSION if self.package == SKIMAGE else WALLPAPERS_VERSION


def _wallpaper(key: str, folder: str, sha256: str, credit: str, split: str, grids: tuple[Grid, ...]) -> Source:
    return Source(
        key=key,
        package=WALLPAPERS,
        file=f"usr/share/wallpapers/{folder}/contents/images/2560x1600.jpg",
        sha256=sha256,
        licence=WALLPAPER_LICENCE,
        credit=credit,
        split=split,
        grids=grids,
        note=WALLPAPER_LICENCE_NOTE,
    )


def _skimage(key: str, file: str, sha256: str, licence: str, credit: str, grids: tuple[Grid, ...]) -> Source:
    return Source(key, SKIMAGE, f"skimage/data/{file}", sha256, licence, credit, "train", grids)


# 2560x1600 -> 960x600; a 4x2 grid gives 8 crops per photo that overlap by at most 22 px.
_EVAL_GRID = (Grid(600, 4, 2),)
# The monochrome photos go to the train pool at two scales.
_TWO_SCALES = (Grid(512, 3, 2), Grid(768, 4, 3))

SOURCES: tuple[Source, ...] = (
    # eval: nine colour photographs from the wallpaper package, 8 crops each
    _wallpaper(
        "bythewater",
        "BytheWater",
        "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f",
        "Maciej Wiklo, 'By the water' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "colorfulcups",
        "ColorfulCups",
        "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d",
        "Dmitri Popov, 'Colorful Cups' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "darkesthour",
        "DarkestHour",
        "8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce",
        "Risto Saukonpää, 'Darkest Hour' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "eveningglow",
        "EveningGlow",
        "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a",
        "Ian Hex, 'Evening Glow' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "fallenleaf",
        "FallenLeaf",
        "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de",
        "Martin Klapetek, 'Fallen Leaf' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "kite",
        "Kite",
        "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8",
        "Risto Saukonpää, 'Kite' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "onestandsout",
        "OneStandsOut",
        "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd",
        "Risto Saukonpää, 'One Stands Out' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "path",
        "Path",
        "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8",
        "Risto Saukonpää, 'Path' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    _wallpaper(
        "summer1am",
        "summer_1am",
        "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8",
        "Risto Saukonpää, 'summer 1am' (KDE Plasma wallpaper)",
        "eval",
        _EVAL_GRID,
    ),
    # train: the monochrome wallpaper photos and the scikit-image photographs
    _wallpaper(
        "coldripple",
        "ColdRipple",
        "05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f",
        "Risto Saukonpää, 'Cold Ripple' (KDE Plasma wallpaper)",
        "train",
        _TWO_SCALES,
    ),
    _wallpaper(
        "grey",
        "Grey",
        "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed",
        "Sigi Sagi, 'Grey' (KDE Plasma wallpaper)",
        "train",
        _TWO_SCALES,
    ),
    _skimage(
        "astronaut",
        "astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "public domain",
        "NASA (Eileen Collins portrait, NASA Great Images)",
        (Grid(None, 3, 3), Grid(384, 2, 2)),
    ),
    _skimage(
        "rocket",
        "rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        "public domain",
        "SpaceX (DSCOVR launch on Falcon 9)",
        (Grid(None, 3, 2),),
    ),
    _skimage(
        "coffee",
        "coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "CC0",
        "Rachel Michetti (courtesy of Pikolo Espresso Bar)",
        (Grid(None, 3, 2),),
    ),
    _skimage(
        "chelsea",
        "chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "CC0",
        "Stefan van der Walt (Chelsea the cat)",
        (Grid(None, 2, 1),),
    ),
    _skimage(
        "hubble",
        "hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
        "public domain",
        "NASA (Hubble eXtreme Deep Field)",
        (Grid(None, 2, 2),),
    ),
    _skimage(
        "retina",
        "retina.jpg",
        "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
        "CC0",
        "Mikael Häggström (fundus photograph, Wikimedia Commons)",
        (Grid(640, 3, 3),),
    ),
    _skimage(
        "ihc",
        "ihc.png",
        "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
        "no known copyright restrictions",
        "Center for Microscopy And Molecular Imaging (CMMI)",
        (Grid(None, 2, 2),),
    ),
)


# ---------------------------------------------------------------- sources


def skimage_root() -> Path:
    """The site-packages folder that holds `skimage/data/` (package paths are relative to it)."""
    try:
        import skimage
    except ImportError as err:
        message = f"scikit-image is not installed ({err}); pip install scikit-image=={SKIMAGE_VERSION}"
        raise SampleBuildError(message) from None
    return Path(skimage.__file__).resolve().parents[1]


def fetch_wallpapers(workdir: Path) -> Path:
    """`apt-get download` the pinned wallpaper .deb into `workdir` and unpack it; returns the unpacked root."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SampleBuildError(
            f"apt-get/dpkg-deb not found: download {WALLPAPERS}={WALLPAPERS_VERSION} (a Debian .deb), unpack it "
            "with `dpkg-deb -x <deb> DIR` and pass --wallpapers DIR"
        )
    command = ["apt-get", "download", f"{WALLPAPERS}={WALLPAPERS_VERSION}"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    debs = sorted(workdir.glob(f"{WALLPAPERS}_*.deb"))
    if done.returncode != 0 or not debs:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SampleBuildError(
            f"`{' '.join(command)}` failed ({last}); run `apt-get update` first, or pass --wallpapers DIR "
            "with an unpacked copy"
        )
    digest = hashlib.sha256(debs[0].read_bytes()).hexdigest()
    if digest != WALLPAPERS_DEB_SHA256:
        raise SampleBuildError(f"{debs[0].name}: sha256 {digest} differs from the recorded {WALLPAPERS_DEB_SHA256}")
    unpacked = workdir / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
    return unpacked


def source_bytes(source: Source, roots: dict[str, Path]) -> bytes:
    """The source file's bytes, after checking that it exists and has the recorded sha256."""
    path = roots[source.package] / source.file
    if not path.is_file():
        raise SampleBuildError(f"source {path} is missing (from {source.package} {source.version})")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise SampleBuildError(
            f"source {path}: sha256 {digest} differs from the recorded {source.sha256} "
            f"(expected {source.package} {source.version})"
        )
    return data


def read_source(source: Source, roots: dict[str, Path]) -> np.ndarray:
    """The source photo as (H, W, 3) uint8 RGB (checked first; grayscale photos become R=G=B)."""
    return decode_rgb8(source_bytes(source, roots))


# ---------------------------------------------------------------- crops


@dataclass(frozen=True)
class Crop:
    source: Source
    index: int
    frame: tuple[int, int]  # (width, height) of the downscaled frame the box refers to
    scale: float  # frame / original
    box: tuple[int, int, int, int]  # left, top, right, bottom in the frame
    pixels: np.ndarray  # (256, 256, 3) uint8

    @property
    def file(self) -> str:
        return f"{self.source.split}/{self.source.key}_{self.index:02d}.png"


def downscale(rgb: np.ndarray, short_side: int | None) -> np.ndarray:
    """Shorter side to `short_side` with Lanczos (antialiased); None keeps the native size."""
    height, width = rgb.shape[:2]
    if short_side is None or short_side == min(height, width):
        return rgb
    if short_side > min(height, width):
        raise SampleBuildError(f"refusing to upscale a {width}x{height} photo to shorter side {short_side}")
    if height <= width:
        size = (round(width * short_side / height), short_side)
    else:
        size = (short_side, round(height * short_side / width))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def grid_positions(length: int, count: int) -> list[int]:
    """`count` crop offsets spread evenly from 0 to length - CROP_SIZE."""
    if length < CROP_SIZE:
        raise SampleBuildError(f"frame side {length} is smaller than the crop size {CROP_SIZE}")
    if count == 1:
        return [(length - CROP_SIZE) // 2]
    return [round(i * (length - CROP_SIZE) / (count - 1)) for i in range(count)]


def crops_of(source: Source, rgb: np.ndarray) -> Iterator[Crop]:
    """All crops of one source, grid by grid, row-major."""
    index = 0
    original_short = min(rgb.shape[:2])
    for grid in source.grids:
        frame = downscale(rgb, grid.short_side)
        height, width = frame.shape[:2]
        for top in grid_positions(height, grid.rows):
            for left in grid_positions(width, grid.cols):
                pixels = np.ascontiguousarray(frame[top : top + CROP_SIZE, left : left + CROP_SIZE])
                box = (left, top, left + CROP_SIZE, top + CROP_SIZE)
                scale = min(height, width) / original_short
                yield Crop(source, index, (width, height), scale, box, pixels)
                index += 1


def encode_png(pixels: np.ndarray) -> bytes:
    """Deterministic PNG bytes (Pillow writes no timestamps; fixed compression level)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def pixels_sha256(pixels: np.ndarray) -> str:
    """sha256 of the raw (H, W, 3) uint8 bytes, independent of PNG compression."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def crop_record(crop: Crop, png: bytes) -> dict[str, Any]:
    source = crop.source
    return {
        "file": crop.file,
        "split": source.split,
        "width": CROP_SIZE,
        "height": CROP_SIZE,
        "sha256": hashlib.sha256(png).hexdigest(),
        "pixels_sha256": pixels_sha256(crop.pixels),
        "source": {
            "key": source.key,
            "package": source.package,
            "version": source.version,
            "file": source.file,
        },
        "frame": list(crop.frame),
        "scale": round(crop.scale, 6),
        "box": list(crop.box),
        "licence": source.licence,
        "credit": source.credit,
    }


def source_record(source: Source) -> dict[str, Any]:
    record = {
        "package": source.package,
        "version": source.version,
        "file": source.file,
        "sha256": source.sha256,
        "split": source.split,
        "licence": source.licence,
        "credit": source.credit,
        "grids": [{"short_side": g.short_side, "cols": g.cols, "rows": g.rows} for g in source.grids],
    }
    if source.note:
        record["licence_note"] = source.note
    return record


def build(out_dir: Path, roots: dict[str, Path], sources: Sequence[Source] = SOURCES) -> dict[str, Any]:
    """Write every crop PNG and manifest.json under `out_dir` (stale PNGs of the splits are removed).

    All sources are checked before anything is written, so a missing or different source leaves
    `out_dir` untouched.
    """
    for source in sources:
        source_bytes(source, roots)
    for split in SPLITS:
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / split).glob("*.png"):
            stale.unlink()
    records = []
    for source in sources:
        for crop in crops_of(source, read_source(source, roots)):
            png = encode_png(crop.pixels)
            (out_dir / crop.file).write_bytes(png)
            records.append(crop_record(crop, png))
    manifest = {
        "generator": "python -m tools.build_sample",
        "crop_size": CROP_SIZE,
        "downscale_filter": "PIL.Image.Resampling.LANCZOS",
        "built_with": {"pillow": Image.__version__, "zlib": features.version("zlib"), "numpy": np.__version__},
        "packages": {
            SKIMAGE: {"version": SKIMAGE_VERSION, "how": f"pip install scikit-image=={SKIMAGE_VERSION}"},
            WALLPAPERS: {
                "version": WALLPAPERS_VERSION,
                "how": f"apt-get download {WALLPAPERS}={WALLPAPERS_VERSION} && dpkg-deb -x <deb> DIR",
                "deb_sha256": WALLPAPERS_DEB_SHA256,
            },
        },
        "sources": {source.key: source_record(source) for source in sources},
        "crops": records,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out_dir / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest


# ---------------------------------------------------------------- check


def load_manifest(sample_dir: Path = SAMPLE_DIR) -> dict[str, Any]:
    path = sample_dir / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SampleBuildError(f"{path}: cannot read the manifest ({err})") from None


def check(sample_dir: Path = SAMPLE_DIR) -> list[str]:
    """Problems found comparing the files under `sample_dir` with its manifest (empty list: all good)."""
    manifest = load_manifest(sample_dir)
    problems: list[str] = []
    listed = set()
    sources_by_split: dict[str, set[str]] = {split: set() for split in SPLITS}
    for record in manifest["crops"]:
        file = record["file"]
        listed.add(file)
        sources_by_split.setdefault(record["split"], set()).add(record["source"]["key"])
        path = sample_dir / file
        if not path.is_file():
            problems.append(f"{path}: listed in the manifest but missing")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
        try:
            with Image.open(io.BytesIO(data)) as image:
                mode, size = image.mode, image.size
                pixels = np.asarray(image.convert("RGB"))
        except Exception as err:
            problems.append(f"{path}: cannot decode ({err})")
            continue
        if mode != "RGB" or size != (record["width"], record["height"]):
            problems.append(f"{path}: {mode} {size[0]}x{size[1]}, expected RGB {record['width']}x{record['height']}")
        if pixels_sha256(pixels) != record["pixels_sha256"]:
            problems.append(f"{path}: pixel sha256 differs from the manifest")
    for split in SPLITS:
        for path in sorted((sample_dir / split).glob("*")):
            if f"{split}/{path.name}" not in listed:
                problems.append(f"{path}: not listed in the manifest")
    shared = sources_by_split.get("eval", set()) & sources_by_split.get("train", set())
    if shared:
        problems.append(f"eval and train share source photos: {', '.join(sorted(shared))}")
    return problems


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tools.build_sample", description=summary)
    parser.add_argument("--check", action="store_true", help="verify the files against manifest.json, build nothing")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help=f"sample folder (default {SAMPLE_DIR})")
    parser.add_argument("--wallpapers", type=Path, help=f"an unpacked {WALLPAPERS} .deb (default: apt-get download)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check(args.out)
            for problem in problems:
                print(problem, file=sys.stderr)
            count = len(load_manifest(args.out)["crops"])
            print(f"{args.out}: {count} crops, {'OK' if not problems else f'{len(problems)} problem(s)'}")
            return 1 if problems else 0
        with tempfile.TemporaryDirectory(prefix="inpaintbench-sample-") as workdir:
            wallpapers = args.wallpapers or fetch_wallpapers(Path(workdir))
            manifest = build(args.out, {SKIMAGE: skimage_root(), WALLPAPERS: wallpapers})
    except SampleBuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = {split: sum(r["split"] == split for r in manifest["crops"]) for split in SPLITS}
    print(f"wrote {args.out}: " + ", ".join(f"{n} {split} crops" for split, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
