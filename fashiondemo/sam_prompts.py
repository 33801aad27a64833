"""SAM prompts checked before they reach the model: points, labels, a box, a previous mask's logits.

Coordinates are in the original image's pixels, (x, y) with x along the width. A point must lie on the image
(0 <= x < W, 0 <= y < H); a box's edges may touch the border (0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H). Every
refusal is a `PromptError` (a ValueError) whose message names the bad value. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_POINTS = 256  # the decoder's cost grows with the token count; more clicks than this are a client bug
LOW_RES = 256  # SAM's low-resolution mask logits are 256x256


class PromptError(ValueError):
    """A prompt SAM cannot take; the message says which value and why."""


@dataclass(frozen=True)
class Prompts:
    """Validated prompts. points: (N, 2) float32 x, y; labels: (N,) int32, 1 = object, 0 = background;
    box: (4,) float32 x0, y0, x1, y1. Either part may be None, not both."""

    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None

    def to_json(self) -> dict:
        """Plain lists, for export next to the masks the prompts made."""
        return {
            "points": None if self.points is None else self.points.tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "box_xyxy": None if self.box is None else self.box.tolist(),
        }


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name} must be numbers, got {value!r}") from exc
    if not np.all(np.isfinite(array)):
        raise PromptError(f"{name} contains NaN or infinity: {array.tolist()}")
    return array


def validate_prompts(
    image_hw: tuple[int, int],
    points=None,
    labels=None,
    box=None,
    *,
    max_points: int = MAX_POINTS,
) -> Prompts:
    """Check prompts against an image of size (H, W).

    points: (N, 2) array-like of (x, y) pixels, or None / empty. labels: (N,) of 1 (object) / 0 (background);
    None means all 1. box: (4,) x0, y0, x1, y1 in pixels, or None.
    """
    height, width = image_hw
    pts = lab = bx = None
    if points is not None and np.size(points) > 0:
        pts = _as_float_array(points, "points")
        if pts.ndim == 1 and pts.shape == (2,):
            pts = pts[None]
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise PromptError(f"points must be an (N, 2) array of (x, y), got shape {pts.shape}")
        if len(pts) > max_points:
            raise PromptError(f"{len(pts)} points given; at most {max_points} are accepted per prompt")
        outside = (pts[:, 0] < 0) | (pts[:, 0] >= width) | (pts[:, 1] < 0) | (pts[:, 1] >= height)
        if outside.any():
            bad = pts[np.argmax(outside)].tolist()
            raise PromptError(f"point {bad} lies outside the {width}x{height} image (x in [0, {width}))")
        lab = _labels(labels, len(pts))
    elif labels is not None and np.size(labels) > 0:
        raise PromptError("labels were given without points")
    if box is not None and np.size(box) > 0:
        bx = _as_float_array(box, "box").reshape(-1)
        if bx.shape != (4,):
            raise PromptError(f"box must be 4 numbers x0, y0, x1, y1, got {bx.size}")
        x0, y0, x1, y1 = bx.tolist()
        if not (x1 > x0 and y1 > y0):
            raise PromptError(f"box {bx.tolist()} has zero area or is inverted (need x0 < x1 and y0 < y1)")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise PromptError(f"box {bx.tolist()} reaches outside the {width}x{height} image")
    if pts is None and bx is None:
        raise PromptError("empty prompt: give at least one point or a box")
    return Prompts(
        None if pts is None else pts.astype(np.float32),
        lab,
        None if bx is None else bx.astype(np.float32),
    )


def _labels(labels, count: int) -> np.ndarray:
    if labels is None:
        return np.ones(count, dtype=np.int32)
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != (count,):
        raise PromptError(f"{lab.size} labels for {count} points")
    if not np.isin(lab, (0, 1)).all():
        raise PromptError(f"labels must be 1 (object) or 0 (background), got {np.unique(lab).tolist()}")
    return lab.astype(np.int32)


def validate_mask_input(mask_input) -> np.ndarray | None:
    """Previous low-res logits for refinement: (256, 256) or (1, 256, 256) -> (1, 256, 256) float32."""
    if mask_input is None:
        return None
    logits = np.asarray(mask_input, dtype=np.float32)
    if logits.shape == (LOW_RES, LOW_RES):
        logits = logits[None]
    if logits.shape != (1, LOW_RES, LOW_RES):
        raise PromptError(
            f"mask_input must be a previous prediction's 256x256 low-res logits, got shape {logits.shape}"
        )
    if not np.isfinite(logits).all():
        raise PromptError("mask_input contains NaN or infinity")
    return logits
