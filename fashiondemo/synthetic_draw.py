"""Pixels for the synthetic dataset: backgrounds, a skin-coloured figure, and garments with class textures.

Each category has its own colour (its palette colour, jittered per instance) and texture (plain, stripes,
checks or dots at a category-specific period), so a segmentation model can learn the classes in ~100
iterations, while brightness jitter, noise, varied backgrounds and JPEG compression keep it from being a
lookup table.
Masks are rasterized with pycocotools from the same polygons written to the json, so labels match pixels.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from fashiondemo.classes import PALETTE
from fashiondemo.fashionpedia import quiet_pycocotools

PATTERNS = ("plain", "horizontal stripes", "vertical stripes", "checks", "dots")
SKIN_TONES = np.array([(241, 194, 167), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 30)], float)
HAIR_COLOURS = np.array([(30, 22, 18), (85, 55, 30), (160, 120, 60), (200, 170, 110), (120, 40, 20)], float)


def pattern_of(category_id: int) -> str:
    return PATTERNS[category_id % len(PATTERNS)]


def polygons_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Union of flat [x0, y0, x1, y1, ...] polygons (pixels) -> HxW bool, decoded by pycocotools."""
    rles = mask_utils.frPyObjects(polygons, height, width)
    with quiet_pycocotools():
        return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def _texture(category_id: int, height: int, width: int, offset: tuple[int, int]) -> np.ndarray:
    """HxW float in {0.62, 1.0}: where the category's pattern darkens the base colour."""
    period = 6 + (category_id * 3) % 9
    ys, xs = np.mgrid[0:height, 0:width]
    ys, xs = ys + offset[0], xs + offset[1]
    kind = pattern_of(category_id)
    if kind == "horizontal stripes":
        dark = (ys // period) % 2 == 0
    elif kind == "vertical stripes":
        dark = (xs // period) % 2 == 0
    elif kind == "checks":
        dark = ((ys // period) + (xs // period)) % 2 == 0
    elif kind == "dots":
        dark = ((ys % period) - period / 2) ** 2 + ((xs % period) - period / 2) ** 2 < (period / 3.5) ** 2
    else:
        dark = np.zeros((height, width), bool)
    return np.where(dark, 0.62, 1.0)


def paint_instance(canvas: np.ndarray, mask: np.ndarray, category_id: int, rng: np.random.Generator) -> None:
    """Paint one instance in its category's colour and texture (canvas: HxWx3 float, modified in place)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    colour = PALETTE[category_id + 1].astype(float) * rng.uniform(0.8, 1.1) + rng.normal(0, 8, 3)
    texture = _texture(category_id, y1 - y0, x1 - x0, tuple(rng.integers(0, 16, 2)))
    # Soft vertical shading: cloth is lit from above.
    shade = np.linspace(1.05, 0.88, y1 - y0)[:, None]
    patch = np.clip(colour[None, None, :] * (texture * shade)[:, :, None], 0, 255)
    region = mask[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1][region] = patch[region]


def crowd_scatter(canvas: np.ndarray, mask: np.ndarray, category_id: int, rng: np.random.Generator) -> None:
    """Draw a loose group of small items (sequins, a heap of bags...) inside a crowd region."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return
    colour = PALETTE[category_id + 1].astype(float)
    height, width = mask.shape
    radius = max(1, int(np.sqrt(len(ys)) / 12))
    yy, xx = np.mgrid[0:height, 0:width]
    for index in rng.choice(
        len(ys), size=min(len(ys), 12 + len(ys) // (12 * radius * radius)), replace=False
    ):
        dot = (yy - ys[index]) ** 2 + (xx - xs[index]) ** 2 <= radius * radius
        canvas[dot & mask] = colour * rng.uniform(0.8, 1.1)


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """HxWx3 float: a muted gradient (wall/floor) with a few shapes (furniture, windows), unlabelled."""
    top, bottom = rng.uniform(60, 230, 3), rng.uniform(40, 200, 3)
    grey = rng.uniform(0.5, 0.9)  # pull colours toward grey: backgrounds are duller than clothes
    top, bottom = top * grey + top.mean() * (1 - grey), bottom * grey + bottom.mean() * (1 - grey)
    t = np.linspace(0, 1, height)[:, None, None]
    canvas = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).copy()
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(int(rng.integers(1, 5))):
        colour = rng.uniform(30, 240, 3)
        colour = colour * 0.6 + colour.mean() * 0.4
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.05, 0.3) * height, rng.uniform(0.05, 0.3) * width
        if rng.random() < 0.5:
            shape = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
        else:
            shape = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        canvas[shape] = colour
    return canvas


def body_polygons(wrist_v: float) -> dict[str, list[list[tuple[float, float]]]]:
    """Unlabelled figure parts in figure coordinates: skin (face, neck, arms, legs) and hair."""
    arm = [(0.24, 0.15), (0.15, 0.17), (0.08, wrist_v + 0.06), (0.17, wrist_v + 0.06), (0.27, 0.27)]
    leg = [(0.36, 0.48), (0.49, 0.48), (0.48, 0.95), (0.37, 0.95)]
    head = [(0.5 + 0.065 * np.cos(a), 0.075 + 0.07 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24)]
    hair = [(0.5 + 0.075 * np.cos(a), 0.06 + 0.06 * np.sin(a)) for a in np.linspace(np.pi, 2 * np.pi, 12)]
    mirror = lambda poly: [(1 - u, v) for u, v in poly]  # noqa: E731
    return {
        "skin": [
            head,
            [(0.46, 0.12), (0.54, 0.12), (0.55, 0.17), (0.45, 0.17)],
            arm,
            mirror(arm),
            leg,
            mirror(leg),
        ],
        "hair": [hair],
    }


def finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise, then uint8 HxWx3."""
    noisy = canvas + rng.normal(0, 5, canvas.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
