"""evaluate: a split's Table 2 from prediction PNGs or a model, checked against mmseg's IoUMetric maths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES
from fashiondemo.evaluate import main

SHAPES = {"a": (40, 30), "b": (25, 50), "c": (33, 33)}


def _write_png(array: np.ndarray, path, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


@pytest.fixture
def split(tmp_path):
    """A prepared-layout val split of three images, and predictions that are GT with ~30% pixels changed."""
    rng = np.random.default_rng(0)
    data, predictions = tmp_path / "data", tmp_path / "pred"
    pairs = {}
    for stem, (h, w) in SHAPES.items():
        gt = rng.integers(0, 6, size=(h, w)).astype(np.uint8)  # a few classes, so most rows are NaN
        gt[rng.random((h, w)) < 0.1] = IGNORE_INDEX
        pred = np.where(rng.random((h, w)) < 0.3, rng.integers(0, 8, size=(h, w)), gt).astype(np.uint8)
        pred[pred == IGNORE_INDEX] = 0
        _write_png(gt, data / "ann_dir" / "val" / f"{stem}.png")
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        _write_png(image, data / "img_dir" / "val" / f"{stem}.jpg", "RGB")
        _write_png(pred, predictions / f"{stem}.png")
        pairs[stem] = (pred, gt)
    return data, predictions, pairs


def _mmseg_reference(pairs) -> tuple[np.ndarray, dict]:
    """Per-class IoU (%) and summary from mmseg's own IoUMetric functions over the same pairs."""
    import torch

    from fashiondemo.mmcv_compat import mmseg_iou_metric_class

    metric = mmseg_iou_metric_class()
    totals = [0, 0, 0, 0]
    for pred, gt in pairs.values():
        areas = metric.intersect_and_union(
            torch.from_numpy(pred.astype(np.int64)),
            torch.from_numpy(gt.astype(np.int64)),
            NUM_CLASSES,
            IGNORE_INDEX,
        )
        totals = [t + a for t, a in zip(totals, areas, strict=True)]
    result = metric.total_area_to_metrics(*totals, metrics=["mIoU"])  # numpy arrays, fractions
    iou = result["IoU"] * 100
    summary = {
        "aAcc": float(result["aAcc"]) * 100,
        "mIoU": np.nanmean(iou),
        "mAcc": np.nanmean(result["Acc"]) * 100,
    }
    return iou, summary


def test_predictions_folder_matches_mmseg_iou_metric(split, tmp_path, capsys):
    data, predictions, pairs = split
    out = tmp_path / "out"
    assert (
        main(["--predictions", str(predictions), "--data", str(data), "--out", str(out), "--compare-seed"])
        == 0
    )
    doc = json.loads((out / "table2.json").read_text())
    assert [row["class"] for row in doc["per_class"]] == list(CLASS_NAMES)
    ours = np.array([np.nan if r["IoU"] is None else r["IoU"] for r in doc["per_class"]])
    reference_iou, reference_summary = _mmseg_reference(pairs)
    np.testing.assert_allclose(ours, reference_iou, rtol=1e-6, equal_nan=True)  # mmseg sums in float32
    for key, value in reference_summary.items():
        assert doc["summary"][key] == pytest.approx(value, rel=1e-6)
    assert doc["metadata"]["n_images"] == 3 and doc["metadata"]["split"] == "val"
    assert (out / "per_class_iou.png").is_file() and (out / "table2_vs_seed.csv").is_file()
    printed = capsys.readouterr().out
    assert "3 images, split val: aAcc" in printed and "table2.md" in printed


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "missing label map"),
        ("shape", "differs from the ground truth"),
        ("colour", "single-channel label PNG"),
    ],
)
def test_bad_prediction_files_are_named(split, tmp_path, capsys, damage, message):
    data, predictions, _ = split
    target = predictions / "b.png"
    if damage == "missing":
        target.unlink()
    elif damage == "shape":
        _write_png(np.zeros((5, 5), np.uint8), target)
    else:
        _write_png(np.zeros((25, 50, 3), np.uint8), target, "RGB")
    assert main(["--predictions", str(predictions), "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "b.png" in err
    assert not (tmp_path / "o" / "table2.json").exists()


def test_missing_split_is_explained(tmp_path, capsys):
    assert main(["--predictions", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "python -m fashiondemo.prepare" in capsys.readouterr().err


@pytest.mark.slow
def test_random_weights_are_labelled(split, tmp_path, capsys):
    data, _, _ = split
    out = tmp_path / "out"
    args = ["--random-weights", "--data", str(data), "--out", str(out), "--infer-size", "64", "--limit", "2"]
    assert main(args) == 0
    doc = json.loads((out / "table2.json").read_text())
    assert doc["metadata"]["random_weights"] is True and doc["metadata"]["infer_size"] == 64
    assert doc["metadata"]["n_images"] == 2
    assert "RANDOM WEIGHTS" in capsys.readouterr().out
