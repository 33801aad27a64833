"""SAM mask export: PNG per mask + COCO RLE JSON with the prompts, written atomically, read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from fashiondemo.sam import TEST_VARIANT, EverythingSettings, SamSegmenter
from fashiondemo.sam_export import export_everything, export_masks, export_prediction, read_export
from fashiondemo.sam_prompts import validate_prompts


def random_masks(n: int = 3, h: int = 37, w: int = 53, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, h, w)) > 0.6


def test_export_round_trip_png_rle_and_prompts(tmp_path):
    masks = random_masks()
    prompts = validate_prompts((37, 53), points=[[3, 4], [10, 20]], labels=[1, 0], box=[1, 1, 30, 30])
    out = export_masks(
        tmp_path,
        "shot",
        masks,
        np.array([0.9, 0.5, 0.1]),
        prompts=prompts.to_json(),
        image_key="abc",
        model={"variant": "vit_b", "random_weights": True},
    )
    assert out.json_path == tmp_path / "shot.json"
    for i, path in enumerate(out.png_paths):
        png = np.array(Image.open(path))
        assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
        assert np.array_equal(png == 255, masks[i])
    decoded, doc = read_export(out.json_path)
    assert np.array_equal(decoded, masks)
    # independent decode with pycocotools itself
    rle = dict(doc["masks"][1]["segmentation"])
    rle["counts"] = rle["counts"].encode()
    assert np.array_equal(mask_utils.decode(rle).astype(bool), masks[1])
    assert doc["prompts"] == {
        "points": [[3.0, 4.0], [10.0, 20.0]],
        "labels": [1, 0],
        "box_xyxy": [1, 1, 30, 30],
    }
    assert [m["score"] for m in doc["masks"]] == pytest.approx([0.9, 0.5, 0.1])
    assert doc["model"]["random_weights"] is True and doc["image"] == {
        "key": "abc",
        "height": 37,
        "width": 53,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shot.json",
        "shot_mask0.png",
        "shot_mask1.png",
        "shot_mask2.png",
    ]


def test_bad_export_input_is_refused_without_writing(tmp_path):
    with pytest.raises(ValueError, match="bool"):
        export_masks(
            tmp_path, "x", np.zeros((1, 4, 4), np.uint8), [1.0], prompts=None, image_key="k", model={}
        )
    with pytest.raises(ValueError, match="2 masks but 1 scores"):
        export_masks(tmp_path, "x", random_masks(2), [1.0], prompts=None, image_key="k", model={})
    with pytest.raises(ValueError, match="plain file name"):
        export_masks(tmp_path, "../escape", random_masks(1), [1.0], prompts=None, image_key="k", model={})
    assert list(tmp_path.iterdir()) == []


def test_read_export_refuses_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="is not a fashiondemo-sam-masks/1 file"):
        read_export(path)


def test_export_real_prediction_and_everything(tmp_path):
    seg = SamSegmenter(TEST_VARIANT, random_weights=True, precision="fp32", threads=2)
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pred = seg.predict(img, points=[[10, 10]], box=[0, 0, 40, 40])
    out = export_prediction(tmp_path, "pred", pred, seg.describe())
    masks, doc = read_export(out.json_path)
    assert np.array_equal(masks, pred.masks) and doc["prompts"]["box_xyxy"] == [0, 0, 40, 40]
    assert doc["model"]["weights"] == "random (seed 0)"
    settings = EverythingSettings(
        points_per_side=2, points_per_batch=4, pred_iou_thresh=0, stability_score_thresh=0
    )
    result = seg.everything(img, settings)
    out = export_everything(tmp_path, "all", result, seg.describe())
    masks, doc = read_export(out.json_path)
    assert doc["mode"] == "everything" and doc["model"]["everything_settings"]["points_per_side"] == 2
    assert np.array_equal(masks, result.masks)
