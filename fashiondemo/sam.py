"""SAM segmenter: segment_anything's own SamPredictor and SamAutomaticMaskGenerator, safe to share.

Lifecycle: construct (cheap) -> `load()` (or the first call) builds the model once -> `precompute(rgb)` when
an image arrives -> `predict(rgb, points=..., box=...)` per click -> `everything(rgb)` on demand.

Sharing: one lock serialises every model call, and the predictor's image state is set from the embedding cache
(keyed by the image's content hash) inside that lock on every call, so concurrent users never see each other's
image or masks; a repeat prompt on a cached image runs only the decoder. Nothing per-user is kept here: the
caller keeps the previous prediction's logits and passes them back as `mask_input` to refine.

Heavy imports (torch, segment_anything) happen in `load()`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fashiondemo import settings as app_settings
from fashiondemo import weights
from fashiondemo.sam_cache import EmbeddingCache, image_key
from fashiondemo.sam_everything import EverythingResult, EverythingSettings
from fashiondemo.sam_prompts import MAX_POINTS, PromptError, Prompts, validate_mask_input, validate_prompts

VARIANTS = ("vit_b", "vit_l", "vit_h")
# A 2-block, 64-wide image encoder built with segment_anything's own _build_sam; the prompt encoder and mask
# decoder are SAM's real ones. For fast tests only: random weights, no checkpoint exists for it.
TEST_VARIANT = "vit_tiny_test"

__all__ = ["EverythingResult", "EverythingSettings", "PromptError", "SamPrediction", "SamSegmenter"]


@dataclass(frozen=True)
class SamPrediction:
    """One prompt's answer. masks: (C, H, W) bool at the image's size (C = 3 with multimask, else 1);
    scores: (C,) float32, SAM's predicted IoU; low_res_logits: (C, 256, 256) float32, feed one back as
    `mask_input` to refine on the next click. Timings in milliseconds."""

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    prompts: Prompts
    image_key: str
    embedding_cached: bool
    encode_ms: float
    decode_ms: float
    random_weights: bool

    @property
    def best_index(self) -> int:
        """The mask SAM rates best (highest predicted IoU), as the official demo picks for a single click."""
        return int(np.argmax(self.scores))

    @property
    def best_mask(self) -> np.ndarray:
        return self.masks[self.best_index]

    def refine_input(self, index: int | None = None) -> np.ndarray:
        """(1, 256, 256) logits of mask `index` (default: best): the next click's `mask_input`."""
        return self.low_res_logits[self.best_index if index is None else index][None]


class SamSegmenter:
    """SAM behind a lock and an embedding cache. See the module docstring for the lifecycle.

    variant: vit_b | vit_l | vit_h (or "vit_tiny_test", tests only). checkpoint: registry key, local path,
    http(s) URL or hf://owner/repo/file; None = the official file for `variant` in the checkpoint dir
    (downloaded when settings allow). random_weights: build with seeded random init instead (outputs are
    then meaningless and must be labelled; see `.random_weights`). precision: auto | fp32 | bf16 | fp16 for
    the image encoder (fashiondemo.sam_precision). threads: torch CPU threads (process-wide; default from
    settings, else the CPUs this process may use).
    """

    def __init__(
        self,
        variant: str = "vit_b",
        checkpoint: str | os.PathLike | None = None,
        *,
        random_weights: bool = False,
        seed: int = 0,
        device: str | None = None,
        precision: str = "auto",
        threads: int | None = None,
        sha256: str | None = None,
        cache_entries: int = 8,
        cache_bytes: int = 256 << 20,
        max_points: int = MAX_POINTS,
        everything_settings: EverythingSettings | None = None,
    ):
        if variant not in (*VARIANTS, TEST_VARIANT):
            raise ValueError(f"unknown SAM variant {variant!r}; choose from {', '.join(VARIANTS)}")
        if random_weights and checkpoint is not None:
            raise ValueError("give either a checkpoint or random_weights=True, not both")
        if variant == TEST_VARIANT and not random_weights:
            raise ValueError(
                f"{TEST_VARIANT} is a test-only architecture: random_weights=True, no checkpoint"
            )
        self.variant = variant
        self.checkpoint = checkpoint
        self.random_weights = random_weights
        self.seed = seed
        self.sha256 = sha256
        self.max_points = max_points
        self.everything_settings = everything_settings or EverythingSettings()
        self._requested = (device, precision, threads)
        self.cache = EmbeddingCache(cache_entries, cache_bytes)
        self._lock = threading.RLock()
        self._predictor = None
        self.model = None
        self.device: str | None = None
        self.precision: str | None = None
        self.threads: int | None = None
        self.checkpoint_path = None
        self.encoder_calls = 0  # counted by a hook on the image encoder itself

    # ---- building ------------------------------------------------------------------------------------------
    def load(self) -> SamSegmenter:
        """Build the model once (thread-safe, idempotent). Raises weights.CheckpointError subclasses."""
        with self._lock:
            if self._predictor is None:
                self._build()
        return self

    def _build(self) -> None:
        import torch

        from fashiondemo import sam_precision
        from fashiondemo.sam_predictor import CachingPredictor

        env = app_settings.from_env()
        device, precision, threads = self._requested
        self.threads = threads or env.torch_threads or _usable_cpus()
        torch.set_num_threads(self.threads)
        self.device = app_settings.choose_device(device or env.device)
        self.precision = sam_precision.resolve_precision(precision, self.device)
        model = self._build_model(torch)
        model.to(self.device).eval()
        if self.precision != "fp32":
            # Blockwise global attention: same maths, a fraction of the memory traffic (sam_attention).
            from fashiondemo import sam_attention

            sam_attention.install(model.image_encoder)
        model.image_encoder.register_forward_pre_hook(self._count_encoder_call)
        self.model = model
        dev, prec = self.device, self.precision
        self._predictor = CachingPredictor(
            model, self.cache, lambda: sam_precision.encoder_context(prec, dev)
        )

    def _build_model(self, torch):
        from segment_anything import sam_model_registry
        from segment_anything.build_sam import _build_sam

        if self.variant == TEST_VARIANT:
            build = lambda checkpoint=None: _build_sam(64, 2, 2, [], checkpoint)  # noqa: E731
        else:
            build = sam_model_registry[self.variant]
        if self.random_weights:
            with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG
                torch.manual_seed(self.seed)
                return build(checkpoint=None)
        path, expected = self._checkpoint_file()
        state = weights.load_state_dict(path, expected, advice=f"delete {path} and fetch it again")
        model = build(checkpoint=None)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise weights.CheckpointError(
                f"{path} does not fit SAM {self.variant} (wrong variant for this file?): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        self.checkpoint_path = path
        return model

    def _checkpoint_file(self):
        if self.checkpoint is None:
            key = f"sam-{self.variant}"
            return weights.ensure(key), weights.REGISTRY[key].expected
        return weights.resolve_checkpoint(self.checkpoint, sha256=self.sha256)

    def _count_encoder_call(self, module, args) -> None:
        self.encoder_calls += 1

    def describe(self) -> dict:
        """What is running, for labels in the UI and benchmark records."""
        weights_text = f"random (seed {self.seed})" if self.random_weights else str(self.checkpoint_path)
        return {
            "variant": self.variant,
            "weights": weights_text,
            "random_weights": self.random_weights,
            "device": self.device,
            "precision": self.precision,
            "threads": self.threads,
            "cache": self.cache.info(),
        }

    # ---- inference -----------------------------------------------------------------------------------------
    def precompute(self, rgb: np.ndarray) -> str:
        """Compute and cache the embedding of `rgb` (H, W, 3 uint8) now; returns its cache key."""
        rgb = _check_rgb(rgb)
        key = image_key(rgb)
        predictor = self.load()._predictor
        with self._lock:
            predictor.set_image(rgb, key=key)
        return key

    def predict(
        self,
        rgb: np.ndarray,
        points=None,
        labels=None,
        box=None,
        *,
        multimask: bool = True,
        mask_input=None,
    ) -> SamPrediction:
        """Masks for prompts on `rgb` (H, W, 3 uint8).

        points: (N, 2) x, y pixels; labels: (N,) 1 object / 0 background (default all 1); box: (4,) x0, y0,
        x1, y1 pixels; multimask: 3 candidate masks (best for one ambiguous click) or 1 (several prompts);
        mask_input: (1, 256, 256) logits from `SamPrediction.refine_input()` of the previous click.
        Raises PromptError for bad prompts (outside the image, empty, zero-area box, too many points, NaN).
        """
        rgb = _check_rgb(rgb)
        prompts = validate_prompts(rgb.shape[:2], points, labels, box, max_points=self.max_points)
        logits_in = validate_mask_input(mask_input)
        key = image_key(rgb)
        predictor = self.load()._predictor
        with self._lock:
            start = time.perf_counter()
            predictor.set_image(rgb, key=key)
            cached = predictor.last_was_cached
            encoded = time.perf_counter()
            masks, scores, low_res = predictor.predict(
                point_coords=prompts.points,
                point_labels=prompts.labels,
                box=prompts.box,
                mask_input=logits_in,
                multimask_output=multimask,
            )
            decoded = time.perf_counter()
        return SamPrediction(
            masks=masks.astype(bool, copy=False),
            scores=scores.astype(np.float32, copy=False),
            low_res_logits=low_res.astype(np.float32, copy=False),
            prompts=prompts,
            image_key=key,
            embedding_cached=cached,
            encode_ms=(encoded - start) * 1e3,
            decode_ms=(decoded - encoded) * 1e3,
            random_weights=self.random_weights,
        )

    def everything(
        self,
        rgb: np.ndarray,
        settings: EverythingSettings | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> EverythingResult:
        """All masks SAM finds from a grid of point prompts (SamAutomaticMaskGenerator), largest first.

        progress(fraction in [0, 1]) is called after each decoder batch. Holds the model lock throughout.
        """
        from fashiondemo import sam_everything

        rgb = _check_rgb(rgb)
        settings = settings or self.everything_settings
        key = image_key(rgb)
        self.load()
        with self._lock:
            records = sam_everything.generate(self.model, self._predictor, rgb, settings, progress)
        return sam_everything.to_result(
            records, rgb.shape[:2], image_key=key, random_weights=self.random_weights, settings=settings
        )


def _check_rgb(rgb) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        desc = (
            f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        )
        raise ValueError(f"SAM takes an RGB image as a uint8 (H, W, 3) array, got a {desc}")
    if min(rgb.shape[:2]) < 1:
        raise ValueError(f"image has no pixels: shape {rgb.shape}")
    return rgb


def _usable_cpus() -> int:
    # the CPUs this process may run on (a container's share), not the host's count
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
