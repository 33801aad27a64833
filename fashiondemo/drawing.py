"""Drawing on RGB images: instance contours, SAM prompts, distinct mask colours, a legend image (numpy + cv2).

Every function takes and returns numpy arrays (RGB uint8 HxWx3) and never modifies its input. Coordinates are
(x, y) pixels; boxes are (x0, y0, x1, y1) with x1, y1 the exclusive pixel edge (see ``masks.mask_to_box``).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

POSITIVE_RGB = (0, 220, 0)
NEGATIVE_RGB = (230, 0, 0)
BOX_RGB = (255, 200, 0)
RING_RGB = (255, 255, 255)


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return ``rgb`` if it is an HxWx3 uint8 array, else raise a ValueError saying what it is."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        desc = (
            f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        )
        raise ValueError(f"expected an RGB image as an HxWx3 uint8 array, got a {desc}")
    return rgb


def check_masks(masks: np.ndarray, shape: tuple[int, int], name: str = "masks") -> np.ndarray:
    """NxHxW bool view of ``masks`` (bool, or integers read as ``!= 0``) checked against image ``shape``."""
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != tuple(shape):
        raise ValueError(f"{name} must be NxHxW with HxW = {tuple(shape)}, got shape {arr.shape}")
    return arr if arr.dtype == np.bool_ else arr != 0


def distinct_colours(n: int) -> np.ndarray:
    """(n, 3) uint8 RGB colours that stay apart for any n: hues stepped by the golden ratio, two tones.

    Used for class-agnostic masks (SAM), so they never look like one of the 47 class colours on purpose.
    """
    out = np.empty((n, 3), dtype=np.uint8)
    for i in range(n):
        hue = (0.58 + i * 0.618033988749895) % 1.0  # start at blue: the box prompt is yellow
        value = 0.95 if i % 2 == 0 else 0.75
        out[i] = [round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, value)]
    return out


def _colour_list(colours, n: int) -> list[tuple[int, int, int]]:
    if colours is None:
        colours = distinct_colours(n)
    colours = np.asarray(colours)
    if colours.shape != (n, 3):
        raise ValueError(f"need one RGB colour per mask: expected shape ({n}, 3), got {colours.shape}")
    return [tuple(int(c) for c in row) for row in colours]


def draw_contours(
    rgb: np.ndarray, instance_masks: np.ndarray, colours: np.ndarray | None = None, thickness: int = 2
) -> np.ndarray:
    """Outline each of N HxW masks (NxHxW bool) on a copy of ``rgb`` (HxWx3 uint8), colour i for mask i.

    ``colours``: (N, 3) RGB, default ``distinct_colours(N)``. Holes get their own outline.
    """
    out = check_rgb(rgb).copy()
    masks = check_masks(instance_masks, rgb.shape[:2], "instance_masks")
    for mask, colour in zip(masks, _colour_list(colours, len(masks)), strict=True):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thickness, lineType=cv2.LINE_AA)
    return out


def draw_prompts(
    rgb: np.ndarray,
    points: np.ndarray | Sequence | None = None,
    labels: np.ndarray | Sequence | None = None,
    box: Sequence[float] | None = None,
    radius: int | None = None,
) -> np.ndarray:
    """Draw SAM prompts on a copy of ``rgb`` (HxWx3 uint8).

    ``points``: Nx2 (x, y) pixels; ``labels``: N ints, 1 = positive (green), 0 = negative (red), each dot with
    a white ring so it shows on any background; ``box``: (x0, y0, x1, y1) outline. ``radius`` defaults to
    ~1% of the short side (at least 4 px).
    """
    out = check_rgb(rgb).copy()
    h, w = rgb.shape[:2]
    r = radius if radius is not None else max(4, round(min(h, w) / 100))
    pts = np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 2)
    labs = np.ones(len(pts), dtype=np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if len(labs) != len(pts):
        raise ValueError(f"got {len(pts)} points but {len(labs)} labels")
    if not np.isin(labs, (0, 1)).all():
        raise ValueError(
            f"point labels must be 1 (positive) or 0 (negative), got {sorted(set(labs.tolist()))}"
        )
    if box is not None:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        # Dark under-stroke keeps the box visible on bright clothes.
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 0), max(2, r // 2) + 2, cv2.LINE_AA)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), BOX_RGB, max(2, r // 2), cv2.LINE_AA)
    for (x, y), lab in zip(pts, labs, strict=True):
        centre = (round(x), round(y))
        cv2.circle(out, centre, r + max(2, r // 3), RING_RGB, -1, cv2.LINE_AA)
        cv2.circle(out, centre, r, POSITIVE_RGB if lab == 1 else NEGATIVE_RGB, -1, cv2.LINE_AA)
    return out


def render_legend(
    entries: Sequence, width: int = 360, row_height: int = 24, title: str | None = None
) -> np.ndarray:
    """Legend image (RGB uint8, ``width`` wide): a colour swatch, the class name and its pixel share per row.

    ``entries``: objects with ``.name``, ``.rgb`` (3 ints) and ``.share`` (0..1), e.g. ``masks.legend(...)``.
    """
    rows = [(title, None, None)] if title else []
    rows += [(e.name, tuple(int(c) for c in e.rgb), e.share) for e in entries]
    if not entries:
        rows.append(("(no classes present)", None, None))
    img = np.full((row_height * len(rows) + 8, width, 3), 255, dtype=np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, row_height / 48
    for i, (text, colour, share) in enumerate(rows):
        top = 4 + i * row_height
        baseline = top + row_height - row_height // 3
        x_text = 8
        if colour is not None:
            cv2.rectangle(img, (8, top + 3), (8 + row_height - 6, top + row_height - 3), colour, -1)
            cv2.rectangle(img, (8, top + 3), (8 + row_height - 6, top + row_height - 3), (60, 60, 60), 1)
            x_text = 8 + row_height + 2
            pct = f"{100 * share:.1f}%"
            (tw, _), _ = cv2.getTextSize(pct, font, scale, 1)
            cv2.putText(img, pct, (width - 8 - tw, baseline), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
            text = _fit_text(text, width - x_text - tw - 16, font, scale)
        cv2.putText(img, text, (x_text, baseline), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _fit_text(text: str, max_width: int, font: int, scale: float) -> str:
    """Shorten ``text`` with '...' until it fits ``max_width`` pixels (long Fashionpedia names do not)."""
    if cv2.getTextSize(text, font, scale, 1)[0][0] <= max_width:
        return text
    while len(text) > 1 and cv2.getTextSize(text + "...", font, scale, 1)[0][0] > max_width:
        text = text[:-1]
    return text.rstrip(" ,") + "..."
