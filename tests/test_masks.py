"""masks / drawing / rle: round trips against pycocotools, overlay and legend invariants, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, PALETTE
from fashiondemo.masks import (
    IGNORE_RGB,
    box_to_mask,
    colorize,
    distinct_colours,
    draw_contours,
    draw_prompts,
    legend,
    mask_to_box,
    masks_to_coco_rle,
    overlay,
    overlay_binary_masks,
    render_legend,
    rle_to_masks,
)
from fashiondemo.metrics import mask_iou

# pycocotools 2.0.11's compiled decode trips a numpy 2 DeprecationWarning inside itself (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture
def scene():
    """A 60x80 photo-like image and a label map with background, three classes and an ignore patch."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    labels = np.zeros((60, 80), dtype=np.uint8)
    labels[5:40, 10:50] = 11  # dress
    labels[10:20, 12:22] = 32  # sleeve on top of it
    labels[45:55, 60:75] = 24  # shoe
    labels[0:3, 0:3] = IGNORE_INDEX
    return rgb, labels


def random_masks(seed=0, n=5, shape=(37, 53)):
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, *shape), dtype=bool)
    for i in range(n):
        y0, x0 = rng.integers(0, shape[0] - 5), rng.integers(0, shape[1] - 5)
        masks[i, y0 : y0 + rng.integers(2, 20), x0 : x0 + rng.integers(2, 20)] = True
        masks[i] ^= rng.random(shape) < 0.02  # ragged edges, stray pixels, holes
    masks[-1] = False  # an empty mask too
    return masks


def test_colorize_uses_palette_and_grey_ignore(scene):
    _, labels = scene
    img = colorize(labels)
    assert img.shape == (60, 80, 3) and img.dtype == np.uint8
    for lab in (0, 11, 32, 24):
        assert (img[labels == lab] == PALETTE[lab]).all()
    assert (img[labels == IGNORE_INDEX] == IGNORE_RGB).all()
    assert (colorize(labels.astype(np.int64)) == img).all()


@pytest.mark.parametrize("bad", [47, 100, 254, -1, 256])
def test_colorize_refuses_unknown_labels(bad):
    labels = np.zeros((4, 4), dtype=np.int64)
    labels[1, 1] = bad
    with pytest.raises(ValueError, match=f"holds \\[{bad}\\]"):
        colorize(labels)


def test_overlay_keeps_background_and_hidden_classes(scene):
    rgb, labels = scene
    out = overlay(rgb, labels, alpha=0.6)
    assert (out[labels == 0] == rgb[labels == 0]).all()
    tinted = labels == 11
    expected = np.round(0.4 * rgb[tinted] + 0.6 * PALETTE[11].astype(float))
    assert np.abs(out[tinted].astype(float) - expected).max() <= 1
    hidden = overlay(rgb, labels, alpha=0.6, visible_labels=[24])
    assert (hidden[labels == 11] == rgb[labels == 11]).all()
    assert (hidden[labels == 24] == out[labels == 24]).all()
    assert (overlay(rgb, labels, alpha=0.0) == rgb).all()
    assert (rgb == scene[0]).all()  # input untouched


def test_overlay_bad_input(scene):
    rgb, labels = scene
    with pytest.raises(ValueError, match="label map is"):
        overlay(rgb, labels[:10])
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        overlay(rgb.astype(np.float32), labels)
    with pytest.raises(ValueError, match="alpha"):
        overlay(rgb, labels, alpha=1.5)
    with pytest.raises(ValueError, match="visible label 99"):
        overlay(rgb, labels, visible_labels=[99])


def test_legend_shares_sum_to_labelled_fraction(scene):
    _, labels = scene
    entries = legend(labels)
    assert [e.label for e in entries] == [11, 24, 32]  # largest share first; 0 and 255 excluded
    assert entries[0].name == CLASS_NAMES[11] and entries[0].rgb == tuple(PALETTE[11])
    labelled = np.isin(labels, range(1, 47)).mean()
    assert sum(e.share for e in entries) == pytest.approx(labelled)
    assert legend(np.zeros((5, 5), np.uint8)) == []


def test_legend_image_grows_with_entries(scene):
    _, labels = scene
    img = render_legend(legend(labels), width=300, row_height=24, title="Ground truth")
    assert img.shape == (4 * 24 + 8, 300, 3) and img.dtype == np.uint8
    # Each swatch shows its class colour.
    assert (img[4 + 24 + 12, 14] == PALETTE[11]).all()
    assert render_legend([]).shape[0] == 24 + 8


def test_rle_round_trip_matches_pycocotools():
    masks = random_masks()
    results = masks_to_coco_rle(
        masks, scores=np.linspace(1, 0.5, len(masks)), image_id=3, extra={"model": "sam"}
    )
    json.dumps(results)  # JSON-able: counts are str
    assert results[0]["image_id"] == 3 and results[0]["model"] == "sam"
    assert results[1]["score"] == pytest.approx(0.875)
    for res, m in zip(results, masks, strict=True):
        rle = dict(res["segmentation"], counts=res["segmentation"]["counts"].encode())
        assert (mask_utils.decode(rle) == m).all()
        assert res["area"] == m.sum()
    np.testing.assert_array_equal(rle_to_masks(results), masks)
    # Bare segmentation dicts and uncompressed counts decode too.
    np.testing.assert_array_equal(rle_to_masks([r["segmentation"] for r in results]), masks)
    runs = _uncompressed_counts(masks[0])
    np.testing.assert_array_equal(rle_to_masks([{"size": list(masks[0].shape), "counts": runs}])[0], masks[0])


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: column-major run lengths, starting with a (possibly empty) run of zeros."""
    flat = mask.ravel(order="F")
    bounds = [0, *(np.flatnonzero(flat[1:] != flat[:-1]) + 1), flat.size]
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def test_rle_bad_input():
    good = masks_to_coco_rle(random_masks(n=2))[0]["segmentation"]
    with pytest.raises(ValueError, match=r"truncated or corrupt|cannot decode"):
        rle_to_masks([{"size": good["size"], "counts": good["counts"][:-3]}])
    with pytest.raises(ValueError, match="sum to"):
        rle_to_masks([{"size": [4, 4], "counts": [3, 2]}])
    with pytest.raises(ValueError, match="'size' and 'counts'"):
        rle_to_masks([{"counts": "abc"}])
    with pytest.raises(ValueError, match="scores"):
        masks_to_coco_rle(random_masks(n=2), scores=[1.0])
    assert masks_to_coco_rle(np.zeros((0, 4, 4), bool)) == []


def test_mask_to_box_matches_pycocotools_to_bbox():
    for m in random_masks(seed=1, n=8)[:-1]:
        x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m.astype(np.uint8))))
        assert mask_to_box(m) == (x, y, x + w, y + h)
    assert mask_to_box(np.zeros((5, 5), bool)) is None


def test_box_mask_round_trip():
    box = (3, 4, 17, 9)
    m = box_to_mask(box, (20, 30))
    assert m.sum() == 14 * 5 and mask_to_box(m) == box
    for m in random_masks(seed=2)[:-1]:
        filled = box_to_mask(mask_to_box(m), m.shape)
        assert (filled | m).sum() == filled.sum()  # the box covers the mask
    assert mask_to_box(box_to_mask((-5.5, 2.2, 100, 3.1), (10, 10))) == (0, 2, 10, 4)
    with pytest.raises(ValueError, match="no area"):
        box_to_mask((5, 5, 5, 9), (10, 10))


def test_overlay_binary_masks_and_contours():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    masks = random_masks()
    out = overlay_binary_masks(rgb, masks, alpha=0.5, outline=0)
    covered = masks.any(axis=0)
    assert (out[~covered] == rgb[~covered]).all()
    assert (out[covered] != rgb[covered]).any(axis=1).mean() > 0.9
    contours = draw_contours(rgb, masks[:1], colours=[(255, 0, 255)], thickness=1)
    changed = (contours != rgb).any(axis=2)
    assert changed.any() and not changed[~_dilate(masks[0])].any()  # outlines hug the mask
    with pytest.raises(ValueError, match="NxHxW"):
        overlay_binary_masks(rgb, masks[:, :10])


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 2)
    return np.max(
        [np.roll(np.roll(padded, dy, 0), dx, 1) for dy in range(-2, 3) for dx in range(-2, 3)], axis=0
    )[2:-2, 2:-2]


def test_distinct_colours_are_apart():
    cols = distinct_colours(12).astype(int)
    dist = np.abs(cols[:, None] - cols[None]).sum(axis=2)
    np.fill_diagonal(dist, 999)
    assert cols.shape == (12, 3) and dist.min() > 40


def test_draw_prompts_colours_points_and_box():
    rgb = np.zeros((100, 100, 3), dtype=np.uint8)
    out = draw_prompts(rgb, points=[(20, 20), (70, 70)], labels=[1, 0], box=(10, 50, 40, 90), radius=5)
    assert out[20, 20, 1] > 200 and out[20, 20, 0] < 50  # positive: green
    assert out[70, 70, 0] > 200 and out[70, 70, 1] < 50  # negative: red
    assert (out[20, 26] > 200).all()  # white ring just outside the dot
    assert out[50, 25].any() and not out[70, 25].any()  # box outline, not filled
    assert (rgb == 0).all()
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        draw_prompts(rgb, points=[(1, 1), (2, 2)], labels=[1])
    with pytest.raises(ValueError, match="1 \\(positive\\) or 0"):
        draw_prompts(rgb, points=[(1, 1)], labels=[2])


def test_helpers_agree_with_metrics_mask_iou():
    m = random_masks(seed=4)[0]
    decoded = rle_to_masks(masks_to_coco_rle(m))[0]
    assert mask_iou(m, decoded) == 1.0
