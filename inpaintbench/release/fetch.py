"""Download a release from a direct URL: progress bar, resume via HTTP Range, sha256 check.

Bytes go to `<target>.part`; a later call resumes from its size with `Range: bytes=N-` (a server
answering 200 instead of 206 restarts from zero). When complete, the sha256 is checked: a mismatch
deletes the partial file and says so; a match renames it into place. Releases packed in a zip
archive have their member extracted next to it.
"""

from __future__ import annotations

import http.client
import logging
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from inpaintbench.io.atomic import atomic_path
from inpaintbench.io.errors import WeightsError
from inpaintbench.io.hashing import matches_sha256, sha256_file
from inpaintbench.release.pretrained import Release, hub_checkpoints_dir

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def download(url: str, target: Path, *, sha256: str | None = None, progress: bool = True, timeout: float = 60.0) -> str:
    """Fetch `url` into `target` (resuming `target.part`), check `sha256` (full or prefix); return it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            mode, total = _resume_mode(response, start, url)
            if mode == "wb":
                start = 0
            _stream(response, part, mode, start, total, progress, target.name)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # nothing left to send: the partial file is already complete
            log.info("%s: server has no bytes past %d; checking the partial file", url, start)
        else:
            raise WeightsError(f"{url}: download failed (HTTP {error.code} {error.reason})") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
        have = part.stat().st_size if part.exists() else 0
        if have == 0:
            reason = " ".join(str(getattr(error, "reason", None) or error).split())
            raise WeightsError(f"{url}: cannot download ({type(error).__name__}: {reason}; no network?)") from None
        raise WeightsError(
            f"{url}: download interrupted after {have} bytes ({type(error).__name__}); "
            f"run the same command again to resume from {part}"
        ) from None
    actual = sha256_file(part)
    if sha256 and not matches_sha256(actual, sha256):
        part.unlink()
        raise WeightsError(
            f"{url}: sha256 {actual[:16]}... does not match the expected {sha256}; deleted the partial file {part}"
        )
    if not sha256:
        log.warning("%s: no published sha256 to check against; got %s", target.name, actual)
    part.replace(target)
    return actual


def _resume_mode(response: http.client.HTTPResponse, start: int, url: str) -> tuple[str, int | None]:
    length = response.headers.get("Content-Length")
    if start and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match[1]) != start:
            raise WeightsError(f"{url}: server resumed at the wrong offset ({response.headers.get('Content-Range')})")
        return "ab", int(match[3]) if match[3] != "*" else None
    return "wb", int(length) if length else None


def _stream(
    response: http.client.HTTPResponse, part: Path, mode: str, start: int, total: int | None, progress: bool, label: str
) -> None:
    with (
        open(part, mode) as handle,
        tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=not progress) as bar,
    ):
        while chunk := response.read(_CHUNK):
            handle.write(chunk)
            bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size < total:
        raise http.client.IncompleteRead(b"", total - size)


def extract_member(archive: Path, member: str, target: Path) -> Path:
    """Copy one file out of a zip archive (streamed, atomically renamed)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            zipfile.ZipFile(archive) as zipped,
            zipped.open(member) as source,
            atomic_path(target) as tmp,
            open(tmp, "wb") as out,
        ):
            shutil.copyfileobj(source, out, _CHUNK)
    except KeyError:
        raise WeightsError(f"{archive}: has no member {member}") from None
    except zipfile.BadZipFile as error:
        raise WeightsError(f"{archive}: not a readable zip archive ({error})") from None
    return target


def fetch_release(release: Release, *, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Download a direct-URL release into the hub cache (skipping what is already there); return the
    path of the loadable file."""
    if release.url is None:
        raise WeightsError(
            f"{release.name}: manual download only ({release.published_at}); "
            f"place {release.files[0]} at {(cache_dir or hub_checkpoints_dir()) / release.local_path}"
        )
    root = Path(cache_dir) if cache_dir else hub_checkpoints_dir()
    loadable = root / release.local_path
    if loadable.exists():
        return loadable
    downloaded = root / release.name / release.download_name if release.archive_member else loadable
    if not downloaded.exists():
        download(release.url, downloaded, sha256=release.sha256, progress=progress)
    elif release.sha256 and not matches_sha256(sha256_file(downloaded), release.sha256):
        raise WeightsError(f"{downloaded}: present but its sha256 does not match {release.sha256}; delete it")
    if release.archive_member:
        extract_member(downloaded, release.archive_member, loadable)
    return loadable
