"""Everything mode: segment_anything's SamAutomaticMaskGenerator with CPU-sane settings and progress.

SAM's defaults (32x32 points, 64 per batch) are tuned for ViT-H on a GPU: 1024 prompts x 3 masks, each batch
upsampled to full resolution. On a 2-core CPU that is ~4x more decoder work and several hundred MB per batch,
so the defaults here are 16x16 points in batches of 16. The generator's own code does the sampling, filtering
and NMS; it gets the segmenter's caching predictor, so an image already embedded is not encoded again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class EverythingSettings:
    """Arguments of SamAutomaticMaskGenerator (same names and meaning), with CPU-sane defaults."""

    points_per_side: int = 16
    points_per_batch: int = 16
    pred_iou_thresh: float = 0.86
    stability_score_thresh: float = 0.92
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0  # > 0 removes islands and holes smaller than this (OpenCV, slower)

    def __post_init__(self):
        if not 1 <= self.points_per_side <= 64:
            raise ValueError(f"points_per_side must be in 1..64, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {self.points_per_batch}")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.min_mask_region_area < 0:
            raise ValueError(f"min_mask_region_area must be >= 0, got {self.min_mask_region_area}")

    @property
    def decoder_batches(self) -> int:
        return math.ceil(self.points_per_side**2 / self.points_per_batch)


@dataclass(frozen=True)
class EverythingResult:
    """Masks sorted by area, largest first. masks: (N, H, W) bool; scores: (N,) float32 predicted IoU;
    stability: (N,) float32; boxes: (N, 4) float32 x0, y0, x1, y1 in pixels with x1, y1 exclusive (the
    project's convention, as masks.mask_to_box); points: (N, 2) the grid point that produced each mask."""

    masks: np.ndarray
    scores: np.ndarray
    stability: np.ndarray
    boxes: np.ndarray
    points: np.ndarray
    image_key: str
    random_weights: bool
    settings: EverythingSettings

    def __len__(self) -> int:
        return len(self.masks)


def generate(
    model,
    predictor,
    rgb: np.ndarray,
    settings: EverythingSettings,
    progress: Callable[[float], None] | None = None,
) -> list[dict]:
    """Run the stock generator with `predictor` swapped in; progress(fraction) after each decoder batch.

    The caller holds the model lock (the predictor's image state is shared).
    """
    from segment_anything import SamAutomaticMaskGenerator

    generator = SamAutomaticMaskGenerator(model, output_mode="binary_mask", **asdict(settings))
    generator.predictor = predictor  # same model; set_image now goes through the embedding cache
    done = 0
    total = settings.decoder_batches

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done / total, 1.0))

    predictor.on_decode = tick
    try:
        if progress is not None:
            progress(0.0)
        return generator.generate(rgb)
    finally:
        predictor.on_decode = None


def to_result(
    records: list[dict], image_hw, *, image_key: str, random_weights: bool, settings
) -> EverythingResult:
    """The generator's list of dicts -> stacked arrays, largest mask first."""
    height, width = image_hw
    records = sorted(records, key=lambda r: r["area"], reverse=True)
    if not records:
        return EverythingResult(
            np.zeros((0, height, width), bool),
            np.zeros(0, np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 4), np.float32),
            np.zeros((0, 2), np.float32),
            image_key,
            random_weights,
            settings,
        )
    # SAM's bbox is [x, y, w, h] with x + w the last mask column (inclusive); +1 makes the end exclusive.
    xywh = np.array([r["bbox"] for r in records], dtype=np.float32)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:] + 1], axis=1)
    return EverythingResult(
        masks=np.stack([r["segmentation"] for r in records]).astype(bool),
        scores=np.array([r["predicted_iou"] for r in records], dtype=np.float32),
        stability=np.array([r["stability_score"] for r in records], dtype=np.float32),
        boxes=boxes,
        points=np.array([r["point_coords"][0] for r in records], dtype=np.float32),
        image_key=image_key,
        random_weights=random_weights,
        settings=settings,
    )
