"""The app's two models behind status-reporting slots, so one broken model never takes the other (or the app)
down.

A slot builds its model on first use (the app starts serving in seconds), remembers what went wrong in words a
user can act on (missing file + the command that fetches it, refused file + why), and tries again on the next
use, so a checkpoint downloaded or trained while the app runs is picked up without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashiondemo.compare import RANDOM_WEIGHTS_BANNER

READY, LOADING, NOT_LOADED, MISSING, ERROR = "ready", "loading", "not loaded", "missing", "error"


class ModelUnavailable(RuntimeError):
    """The model cannot run now; the message says why and how to fix it (shown in the panel)."""


@dataclass(frozen=True)
class AppConfig:
    """What the app runs with; built from flags and environment by app.py."""

    random_weights: bool = False
    ocrnet_checkpoint: str | None = None  # local path, URL or hf://; None: env, else checkpoints/ default
    ocrnet_infer_size: int = 1024
    sam_variant: str = "vit_b"
    sam_checkpoint: str | None = None  # None: the official file for the variant in checkpoints/
    sam_precision: str = "auto"
    device: str | None = None
    auto_download: bool = True
    fashionpedia_root: Path | None = None
    # SAM's per-image embedding cache: a repeat click on any of the last N images skips the encoder. Each
    # embedding is 4 MiB (1x256x64x64 fp32) whatever the variant, so 8 entries cost 32 MiB.
    sam_cache_entries: int = 8
    sam_cache_bytes: int = 64 << 20


class ModelSlot:
    """One lazily built model with a status: not loaded -> loading -> ready | missing | error."""

    def __init__(self, name: str, build: Callable[[], Any]):
        self.name = name
        self._build = build
        self._model = None
        self._lock = threading.Lock()
        self.status = NOT_LOADED
        self.message = "not loaded yet: loads on first use"
        self.load_seconds: float | None = None

    def get(self) -> Any:
        """The built model; ModelUnavailable (with an actionable message) if it cannot be built."""
        if self._model is not None:
            return self._model
        with self._lock:  # one build at a time; later callers wait for it instead of building twice
            if self._model is not None:
                return self._model
            self.status, self.message = LOADING, "loading..."
            start = time.perf_counter()
            try:
                model = self._build()
            except (FileNotFoundError, *_unreachable_errors()) as exc:
                # Missing files (weights' and ocrnet's errors are FileNotFoundErrors) and failed downloads
                # both mean "get the file": the message names it and the command that fetches it.
                self.status, self.message = MISSING, f"missing: {exc}"
                raise ModelUnavailable(f"{self.name} is missing its weights: {exc}") from exc
            except Exception as exc:  # any other failure is reported in the panel, not raised to the server
                self.status, self.message = ERROR, f"failed to load: {type(exc).__name__}: {exc}"
                raise ModelUnavailable(f"{self.name} {self.message}") from exc
            self.load_seconds = time.perf_counter() - start
            self._model = model
            self.status, self.message = READY, f"ready (loaded in {self.load_seconds:.1f} s)"
            return model

    def note(self, status: str, message: str) -> None:
        """Record what a cheap look (no loading) found, e.g. a missing file at start-up."""
        if self._model is None:
            self.status, self.message = status, message

    @property
    def loaded(self):
        """The model if it is already built (never builds); None otherwise."""
        return self._model

    def markdown(self) -> str:
        icon = {READY: "🟢", LOADING: "🟡", NOT_LOADED: "⚪", MISSING: "🔴", ERROR: "🔴"}[self.status]
        return f"{icon} **{self.name}**: {self.message}"


def _unreachable_errors() -> tuple[type[Exception], ...]:
    from fashiondemo.weights import DownloadError

    return (DownloadError,)


def _build_ocrnet(config: AppConfig):
    from fashiondemo.ocrnet import OcrnetSegmenter

    # The wrapper resolves the reference itself: None -> FASHIONDEMO_OCRNET_CHECKPOINT or the default file in
    # checkpoints/, a path, an http(s) URL or hf://; a missing file raises its MissingCheckpointError.
    segmenter = OcrnetSegmenter(
        config.ocrnet_checkpoint,
        random_weights=config.random_weights,
        device=config.device,
        infer_size=config.ocrnet_infer_size,
    )
    return segmenter.load()


def _build_sam(config: AppConfig):
    from fashiondemo.sam import SamSegmenter
    from fashiondemo.weights import resolve_checkpoint

    cache = {"cache_entries": config.sam_cache_entries, "cache_bytes": config.sam_cache_bytes}
    if config.random_weights:
        segmenter = SamSegmenter(
            config.sam_variant,
            random_weights=True,
            device=config.device,
            precision=config.sam_precision,
            **cache,
        )
    else:
        # A registry key ("sam-vit_b") or the user's path/URL/hf:// reference; fetched (verified, resumable)
        # only when downloads are allowed, so an offline app says what is missing instead of hanging.
        ref = config.sam_checkpoint or f"sam-{config.sam_variant}"
        path, _ = resolve_checkpoint(ref, download_missing=config.auto_download)
        segmenter = SamSegmenter(
            config.sam_variant, str(path), device=config.device, precision=config.sam_precision, **cache
        )
    return segmenter.load()


def _probe_ocrnet(config: AppConfig) -> str | None:
    """Why OCRNet cannot load, if a file check alone tells (None: looks loadable or is remote)."""
    if config.random_weights or (config.ocrnet_checkpoint and "://" in config.ocrnet_checkpoint):
        return None
    from fashiondemo.ocrnet import OcrnetSegmenter

    try:
        OcrnetSegmenter(config.ocrnet_checkpoint).resolve_checkpoint()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def _probe_sam(config: AppConfig) -> tuple[str, str] | None:
    """(status, message) when SAM's official file is absent: to be downloaded, or missing when offline."""
    if config.random_weights or config.sam_checkpoint:
        return None
    from fashiondemo.weights import REGISTRY, spec_path

    spec = REGISTRY[f"sam-{config.sam_variant}"]
    path = spec_path(spec)
    if path.is_file():
        return None
    size = f" ({spec.expected.size / 1e6:.0f} MB)" if spec.expected.size else ""
    if config.auto_download:
        return NOT_LOADED, f"not loaded yet: {spec.filename}{size} will be downloaded to {path} on first use"
    return MISSING, f"missing: {path} is not there and downloads are off. Run `{spec.download_command}`"


class ModelHub:
    """OCRNet and SAM slots for one app process (the models are shared; per-user state lives elsewhere)."""

    def __init__(self, config: AppConfig):
        self.config = config
        self.ocrnet = ModelSlot("OCRNet", lambda: _build_ocrnet(config))
        self.sam = ModelSlot(f"SAM {config.sam_variant}", lambda: _build_sam(config))

    def probe(self) -> None:
        """Look for the weight files without loading anything, so the page says at once what is missing."""
        message = _probe_ocrnet(self.config)
        if message:
            self.ocrnet.note(MISSING, f"missing: {message}")
        found = _probe_sam(self.config)
        if found:
            self.sam.note(*found)

    @property
    def random_weights(self) -> bool:
        return self.config.random_weights

    def status_markdown(self) -> str:
        lines = [self.ocrnet.markdown(), self.sam.markdown()]
        if self.random_weights:
            lines.insert(0, f"⚠️ **{RANDOM_WEIGHTS_BANNER}** (tests and development only).")
        return "\n\n".join(lines)
