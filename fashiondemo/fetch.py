"""Verified HTTP downloads: stream to `<name>.part`, resume with a Range request, rename only when verified.

The final name only ever appears through `os.replace` after the size and hashes matched, so an interrupted,
truncated or wrong download can never be mistaken for a complete file later. A `.part` left by an interruption
is resumed on the next run when the server honours Range (HTTP 206) and restarted from zero otherwise.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from fashiondemo import __version__
from fashiondemo.digests import record_digests
from fashiondemo.weights import (
    CheckpointError,
    CorruptCheckpointError,
    DownloadError,
    Expected,
    verify_file,
)

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _Interrupted(Exception):
    """The connection ended before the body did; the bytes so far stay in the .part file."""


def part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def fetch_verified(
    url: str,
    final: Path,
    expected: Expected,
    *,
    advice: str,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Return `final`, verified; download it first unless a verified copy is already there.

    A final file already there that fails verification is refused, never overwritten: the user deletes it.
    """
    final = Path(final)
    if final.is_file():
        verify_file(final, expected, advice=advice, progress=progress)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(final)
    download_to_part(
        url, part, expected_size=expected.size, retries=retries, timeout=timeout, progress=progress
    )
    try:
        digests = verify_file(
            part, expected, advice=f"run the download again ({advice})", progress=progress, record=False
        )
    except CorruptCheckpointError:
        part.unlink(missing_ok=True)  # complete but wrong: resuming it could never succeed
        raise
    os.replace(part, final)
    # the digests were computed on the .part; the rename keeps size and mtime, so they hold for the final name
    record_digests(final, digests)
    return final


def download_to_part(
    url: str,
    part: Path,
    *,
    expected_size: int | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
) -> None:
    """Bring `part` to the full body of `url`, resuming after interruptions up to `retries` times."""
    for attempt in range(retries + 1):
        try:
            _attempt(url, part, expected_size=expected_size, timeout=timeout, progress=progress)
            return
        except _Interrupted as exc:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"download of {url} was interrupted ({exc}); {part} holds the {have:,} bytes received "
                    "so far. Run the same command again to resume."
                ) from exc


def _request(url: str, start: int) -> urllib.request.Request:
    headers = {"User-Agent": f"fashiondemo/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers)


def _open(url: str, start: int, timeout: float):
    try:
        return urllib.request.urlopen(_request(url, start), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            return None  # our .part is not a prefix the server knows (complete, or the file changed): restart
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(
            f"cannot reach {host} ({exc.reason}): this machine may be offline or need a proxy "
            "(HTTPS_PROXY). Download the file elsewhere and copy it into the checkpoint directory; "
            "`python -m fashiondemo.download --list --verify` then checks it."
        ) from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc


def _attempt(url: str, part: Path, *, expected_size: int | None, timeout: float, progress: bool) -> None:
    from tqdm import tqdm

    start = part.stat().st_size if part.exists() else 0
    if expected_size is not None and start > expected_size:
        start = 0  # longer than the real file: not ours to resume
    if expected_size is not None and start == expected_size:
        return  # already complete; verification decides
    response = _open(url, start, timeout)
    if response is None:
        part.unlink(missing_ok=True)
        start, response = 0, _open(url, 0, timeout)
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start:
                raise _Interrupted(
                    f"server answered an unexpected range {response.headers.get('Content-Range')}"
                )
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:
            start, mode = 0, "wb"  # server ignored Range (HTTP 200): restart from zero
            total = length
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(
                f"{url} is {total:,} bytes but {expected_size:,} are expected: wrong URL or the file changed"
            )
        _stream(response, part, mode=mode, start=start, total=total, progress=progress, tqdm=tqdm)
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Interrupted(f"connection closed after {got:,} of {total:,} bytes")


def _stream(response, part: Path, *, mode: str, start: int, total: int | None, progress: bool, tqdm) -> None:
    with (
        open(part, mode) as f,
        tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            disable=not progress,
        ) as bar,
    ):
        try:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                    raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc
                if not chunk:
                    break
                f.write(chunk)  # a write error (disk full) is not an interruption: it propagates as is
                bar.update(len(chunk))
        finally:
            f.flush()
            os.fsync(f.fileno())


__all__ = ["CheckpointError", "DownloadError", "download_to_part", "fetch_verified", "part_path"]
