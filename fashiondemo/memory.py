"""Hand freed heap memory back to the operating system after big model calls (Linux glibc only).

glibc keeps the arenas that a large forward pass freed, so a server's resident memory ratchets up with every
new image size: measured here, OCRNet alone went from 764 to 1937 MiB over 40 image sizes, and stayed at about
790 MiB with a trim after each call (bench/bench_load.py, bench/bench_app.py). A trim costs tens of
milliseconds, so callers use it after image-sized work (a segmentation, an embedding), never per click.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim: nothing to do
        return None


def release_freed_memory() -> bool:
    """Ask the C allocator to return free heap pages to the OS; True if it could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
