"""Every setting read from the environment, in one place, read once; CLI flags and app.py flags override.

Kept pure: choosing the torch device imports torch only when asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    value = os.getenv(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    checkpoint_dir: Path
    ocrnet_checkpoint: str | None  # local path, http(s) URL or "hf://repo_id/filename"
    sam_variant: str
    device: str | None  # None: choose (cuda, then mps, then cpu)
    torch_threads: int | None
    fashionpedia_root: Path | None
    auto_download: bool
    sam_cache_entries: int  # SAM embeddings kept (4 MiB each for every variant)
    sam_cache_mb: int


def from_env() -> Settings:
    root = os.getenv("FASHIONDEMO_FASHIONPEDIA_ROOT")
    threads = os.getenv("FASHIONDEMO_TORCH_THREADS")
    return Settings(
        checkpoint_dir=_env_path("FASHIONDEMO_CHECKPOINT_DIR", REPO_ROOT / "checkpoints"),
        ocrnet_checkpoint=os.getenv("FASHIONDEMO_OCRNET_CHECKPOINT") or None,
        sam_variant=os.getenv("FASHIONDEMO_SAM_VARIANT", "vit_b"),
        device=os.getenv("FASHIONDEMO_DEVICE") or None,
        torch_threads=int(threads) if threads else None,
        fashionpedia_root=Path(root).expanduser() if root else None,
        auto_download=os.getenv("FASHIONDEMO_AUTO_DOWNLOAD", "1") not in ("0", "false", "no"),
        sam_cache_entries=int(os.getenv("FASHIONDEMO_SAM_CACHE_ENTRIES", "8")),
        sam_cache_mb=int(os.getenv("FASHIONDEMO_SAM_CACHE_MB", "64")),
    )


@cache
def choose_device(requested: str | None = None) -> str:
    """The torch device: the requested one (or FASHIONDEMO_DEVICE), else cuda, then mps, then cpu."""
    import torch

    requested = requested or os.getenv("FASHIONDEMO_DEVICE") or None
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {requested!r} was requested but CUDA is not available here")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
