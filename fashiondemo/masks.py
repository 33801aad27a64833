"""Label maps and binary masks -> pictures and boxes (pure: numpy + opencv + pycocotools).

Label maps are HxW integer arrays with 0 = background, 1..46 = classes, 255 = ignore (``classes.py``); images
are RGB uint8 HxWx3. Nothing here modifies its input. Boxes are (x0, y0, x1, y1) in pixels with x1, y1 the
exclusive edge, so a box's width is ``x1 - x0``; COCO's ``[x, y, w, h]`` is ``[x0, y0, x1 - x0, y1 - y0]``.

This module is the one the app imports; drawing and RLE helpers live in ``drawing.py`` and ``rle.py`` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES, PALETTE
from fashiondemo.drawing import (
    check_masks,
    check_rgb,
    distinct_colours,
    draw_contours,
    draw_prompts,
    render_legend,
)
from fashiondemo.rle import masks_to_coco_rle, rle_to_masks

__all__ = [
    "IGNORE_RGB",
    "LegendEntry",
    "box_to_mask",
    "colorize",
    "distinct_colours",
    "draw_contours",
    "draw_prompts",
    "legend",
    "mask_to_box",
    "masks_to_coco_rle",
    "overlay",
    "overlay_binary_masks",
    "render_legend",
    "rle_to_masks",
]

# Ignore (crowd / unlabelled GT) in a neutral mid grey: visibly "not a class", unlike black background.
IGNORE_RGB = (128, 128, 128)

# 256-entry lookup: colouring a uint8 map is one fancy-index (values other than 0..46 and 255 are refused).
_LUT = np.zeros((256, 3), dtype=np.uint8)
_LUT[:NUM_CLASSES] = PALETTE
_LUT[IGNORE_INDEX] = IGNORE_RGB
_LUT.setflags(write=False)


def _check_label_map(label_map: np.ndarray) -> np.ndarray:
    """HxW uint8 view of a label map whose values are all in 0..46 or 255; ValueError otherwise."""
    if not isinstance(label_map, np.ndarray) or label_map.ndim != 2:
        shape = getattr(label_map, "shape", type(label_map).__name__)
        raise ValueError(f"expected a label map as an HxW integer array, got {shape}")
    if not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError(f"label map must hold integer labels, got dtype {label_map.dtype}")
    if label_map.size:
        lo, hi = int(label_map.min()), int(label_map.max())
        # The second test only runs when something >= 47 is there (usually ignore in GT maps).
        if (
            lo < 0
            or hi > 255
            or (hi >= NUM_CLASSES and ((label_map >= NUM_CLASSES) & (label_map != 255)).any())
        ):
            bad = sorted(set(np.unique(label_map).tolist()) - {*range(NUM_CLASSES), IGNORE_INDEX})
            raise ValueError(f"label map holds {bad[:5]}: expected 0..{NUM_CLASSES - 1} or {IGNORE_INDEX}")
    return label_map.astype(np.uint8, copy=False)


def colorize(label_map: np.ndarray) -> np.ndarray:
    """HxW label map -> HxWx3 uint8 RGB: ``classes.PALETTE`` per label, 255 (ignore) in neutral grey."""
    return _LUT[_check_label_map(label_map)]


def overlay(
    rgb: np.ndarray,
    label_map: np.ndarray,
    alpha: float = 0.5,
    visible_labels: Iterable[int] | None = None,
) -> np.ndarray:
    """Blend class colours over ``rgb`` (HxWx3 uint8) where ``label_map`` (HxW) has a visible label.

    Background (0) is never tinted, so the photo stays readable. ``visible_labels``: labels to draw (default:
    1..46 and 255); pixels of hidden labels stay as in ``rgb``. ``alpha`` in [0, 1] is the colour's weight.
    """
    check_rgb(rgb)
    labels = _check_label_map(label_map)
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"label map is {labels.shape} but the image is {rgb.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    show = np.zeros(256, dtype=bool)
    if visible_labels is None:
        show[1:NUM_CLASSES] = True
        show[IGNORE_INDEX] = True
    else:
        for lab in visible_labels:
            if not (0 <= int(lab) < NUM_CLASSES or int(lab) == IGNORE_INDEX):
                raise ValueError(
                    f"visible label {lab} is not a label (0..{NUM_CLASSES - 1} or {IGNORE_INDEX})"
                )
            show[int(lab)] = True
    show[0] = False
    tinted = show[labels]
    blended = cv2.addWeighted(rgb, 1.0 - alpha, _LUT[labels], alpha, 0.0)
    return np.where(tinted[..., None], blended, rgb)


@dataclass(frozen=True)
class LegendEntry:
    """One class present in a label map: its label, name, RGB colour and share of all pixels (0..1)."""

    label: int
    name: str
    rgb: tuple[int, int, int]
    share: float


def legend(label_map: np.ndarray) -> list[LegendEntry]:
    """Classes 1..46 present in ``label_map`` (HxW), largest share first (ties by label).

    Shares are fractions of all pixels, so they sum to the labelled (non-background, non-ignore) fraction.
    """
    labels = _check_label_map(label_map)
    counts = np.bincount(labels.ravel(), minlength=256)
    total = max(labels.size, 1)
    present = [lab for lab in range(1, NUM_CLASSES) if counts[lab]]
    present.sort(key=lambda lab: (-counts[lab], lab))
    return [
        LegendEntry(lab, CLASS_NAMES[lab], tuple(int(c) for c in PALETTE[lab]), float(counts[lab] / total))
        for lab in present
    ]


def overlay_binary_masks(
    rgb: np.ndarray,
    masks: np.ndarray,
    alpha: float = 0.5,
    colours: np.ndarray | None = None,
    outline: int = 2,
) -> np.ndarray:
    """Blend N binary masks (NxHxW bool) over ``rgb`` (HxWx3 uint8) in distinct colours, outlined.

    Larger masks are painted first so a small mask inside a large one stays visible. ``colours``: (N, 3) RGB,
    default ``distinct_colours(N)``; ``outline``: contour thickness in pixels, 0 for none.
    """
    check_rgb(rgb)
    stack = check_masks(masks, rgb.shape[:2])
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colours = distinct_colours(len(stack)) if colours is None else np.asarray(colours, dtype=np.uint8)
    if colours.shape != (len(stack), 3):
        raise ValueError(
            f"need one RGB colour per mask: expected shape ({len(stack)}, 3), got {colours.shape}"
        )
    out = rgb.copy()
    order = np.argsort(-stack.reshape(len(stack), -1).sum(axis=1), kind="stable")
    for i in order:
        colour_img = np.empty_like(rgb)
        colour_img[:] = colours[i]
        blended = cv2.addWeighted(rgb, 1.0 - alpha, colour_img, alpha, 0.0)
        out[stack[i]] = blended[stack[i]]
    if outline > 0 and len(stack):
        out = draw_contours(out, stack, colours, outline)
    return out


def mask_to_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box (x0, y0, x1, y1) around an HxW mask, x1/y1 exclusive; None for an empty mask."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"expected an HxW mask, got shape {m.shape}")
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_to_mask(box: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """HxW bool mask of the pixels inside ``box`` (x0, y0, x1, y1); fractional edges round outwards and the
    box is clipped to the image. Raises ValueError for a box with x1 <= x0 or y1 <= y0."""
    if len(box) != 4:
        raise ValueError(f"a box is (x0, y0, x1, y1), got {len(box)} numbers")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(np.isfinite((x0, y0, x1, y1))) or x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)} has no area (need x1 > x0 and y1 > y0, finite)")
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    c1, r1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if c1 > c0 and r1 > r0:
        mask[r0:r1, c0:c1] = True
    return mask
