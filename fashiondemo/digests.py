"""File digests and their cache: MD5 + SHA-256 in one pass, remembered in a `<file>.verified` sidecar.

The sidecar holds the file's size and mtime next to its digests; it describes the file only while both still
match, so a replaced or modified file is hashed again instead of trusted. Pure module (no torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HASH_CHUNK = 8 << 20


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def hash_file(path: Path, *, progress: bool = True) -> dict[str, str]:
    """MD5 and SHA-256 of a file in one pass (a progress bar for big files)."""
    from tqdm import tqdm

    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"checking {path.name}",
            disable=not progress or size < (64 << 20),
        ) as bar,
    ):
        while chunk := f.read(HASH_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            bar.update(len(chunk))
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def cached_digests(path: Path) -> dict[str, str] | None:
    """The digests recorded in the sidecar, if it still describes this file (same size and mtime)."""
    try:
        record = json.loads(sidecar_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return None
    if not (isinstance(record.get("md5"), str) and isinstance(record.get("sha256"), str)):
        return None
    return {"md5": record["md5"], "sha256": record["sha256"]}


def record_digests(path: Path, digests: dict[str, str]) -> None:
    """Cache a file's digests in its sidecar, tied to its size and mtime."""
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, **digests}
    record["checked"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # A read-only checkpoint dir is fine: the file is then simply re-hashed on the next start.
    with contextlib.suppress(OSError):
        atomic_write_text(sidecar_path(path), json.dumps(record, indent=1) + "\n")


def default_file_mode() -> int:
    """0o666 minus the process umask: what ``open()`` would give (``mkstemp`` makes private 0o600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same dir + os.replace: readers see the old or the new file, never half.
    The file gets the permissions ``open()`` would give it, not the temp file's private ones."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """atomic_write_bytes for text (UTF-8)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    atomic_write_bytes(path, text.encode("utf-8"))
