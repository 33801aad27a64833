"""compare.py: panels and per-image numbers on synthetic Fashionpedia data, SAM studies on real SAM code."""

from __future__ import annotations

import numpy as np
import pytest

from fashiondemo import compare
from fashiondemo.classes import CLASS_NAMES
from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.metrics import mask_iou


@pytest.fixture(scope="module")
def example(synthetic_dataset):
    root = synthetic_dataset
    split = FashionpediaSplit(root / "instances_attributes_val2020.json", root / "test")
    image_id = split.image_ids[0]
    gt = compare.GroundTruth(split.semantic_map(image_id), split.instances(image_id), "synthetic val")
    return split.load_image(image_id), gt


def test_ocrnet_vs_gt_perfect_prediction_scores_100(example):
    _, gt = example
    pred = np.where(gt.label_map == 255, 0, gt.label_map).astype(np.uint8)
    metrics = compare.ocrnet_vs_gt(pred, gt)
    assert metrics.miou == pytest.approx(100.0)
    labels = {r.label for r in metrics.rows}
    assert labels == set(np.unique(pred).tolist())
    assert all(r.name == CLASS_NAMES[r.label] for r in metrics.rows)


def test_ocrnet_vs_gt_counts_a_missed_class(example):
    _, gt = example
    pred = np.where(gt.label_map == 255, 0, gt.label_map).astype(np.uint8)
    victim = next(r for r in compare.ocrnet_vs_gt(pred, gt).rows if r.label != 0).label
    pred[pred == victim] = 0
    rows = {r.label: r for r in compare.ocrnet_vs_gt(pred, gt).rows}
    assert rows[victim].iou == 0 and rows[victim].acc == 0
    assert compare.ocrnet_vs_gt(pred, gt).to_csv().count("\n") == len(rows) + 4


def test_sam_vs_gt_finds_the_instance_it_copies(example):
    _, gt = example
    inst = max(gt.solid_instances, key=lambda i: i.area)
    # a mask equal to that instance minus its parts is the instance itself: IoU 1 with the instance
    result = compare.sam_vs_gt(inst.mask, gt)
    assert result.instance_ann_id == inst.ann_id and result.instance_iou == pytest.approx(1.0)
    assert result.class_label == inst.label
    assert result.class_iou == pytest.approx(mask_iou(inst.mask, gt.label_map == inst.label))


def test_sam_vs_gt_without_overlap():
    gt = compare.GroundTruth(np.zeros((8, 8), np.uint8), [])
    assert compare.sam_vs_gt(np.ones((8, 8), bool), gt).instance_ann_id is None


def test_label_mask_by_ocrnet_majority():
    label_map = np.zeros((10, 10), np.uint8)
    label_map[:, :7] = 11  # dress on 70% of the mask
    label_map[:, 7:] = 24
    result = compare.label_mask_by_ocrnet(np.ones((10, 10), bool), label_map)
    assert (result.label, result.name) == (11, "dress") and result.share == pytest.approx(0.7)
    assert compare.label_mask_by_ocrnet(np.zeros((10, 10), bool), label_map).label is None


def test_panels_shapes_and_banner(example):
    rgb, gt = example
    picture, legend = compare.ocrnet_panel(rgb, gt.label_map.clip(0, 46), random_weights=True)
    assert picture.shape == rgb.shape and legend
    # the banner's red band sits on the top rows
    assert (picture[2, :20] == (200, 20, 20)).all(axis=-1).mean() > 0.5
    plain, _ = compare.ocrnet_panel(rgb, gt.label_map.clip(0, 46), random_weights=False)
    assert not (plain[2, :20] == (200, 20, 20)).all(axis=-1).any()
    gt_picture, gt_legend = compare.gt_panel(rgb, gt)
    assert gt_picture.shape == rgb.shape and {e.label for e in gt_legend} <= set(range(1, 47))
    assert compare.gt_panel(rgb, None) == (None, [])


def test_hidden_class_is_not_drawn(example):
    rgb, gt = example
    label = next(e.label for e in compare.ocrnet_panel(rgb, gt.label_map.clip(0, 46))[1])
    hidden, _ = compare.ocrnet_panel(rgb, gt.label_map.clip(0, 46), alpha=1.0, hidden=[label])
    region = gt.label_map == label
    assert np.array_equal(hidden[region], rgb[region])


def test_sam_panel_draws_prompts(example):
    rgb, _ = example
    h, w = rgb.shape[:2]
    mask = np.zeros((1, h, w), bool)
    mask[0, : h // 2] = True
    picture = compare.sam_panel(rgb, mask, points=[[w // 2, h // 2]], labels=[1], box=[2, 2, w - 2, h - 2])
    assert picture.shape == rgb.shape and not np.array_equal(picture, rgb)


@pytest.fixture(scope="module")
def tiny_sam():
    from fashiondemo.sam import TEST_VARIANT, SamSegmenter

    return SamSegmenter(TEST_VARIANT, random_weights=True, precision="fp32", threads=2)


def test_gt_box_study_prompts_each_instance_box(example, tiny_sam):
    from fashiondemo.masks import mask_to_box

    rgb, gt = example
    seen = []
    study = compare.prompt_with_gt_boxes(tiny_sam, rgb, gt, progress=seen.append)
    assert len(study.rows) == len(gt.solid_instances) and seen[-1] == pytest.approx(1.0)
    for row, inst in zip(study.rows, gt.solid_instances, strict=True):
        assert row.box == mask_to_box(inst.mask)
        direct = tiny_sam.predict(rgb, box=np.asarray(row.box, np.float32), multimask=False)
        assert np.array_equal(direct.masks[0], row.mask)
        assert row.iou == pytest.approx(mask_iou(row.mask, inst.mask))
    assert study.mean_iou == pytest.approx(np.mean([r.iou for r in study.rows]))


def test_ocrnet_region_study_one_row_per_large_class(example, tiny_sam):
    rgb, gt = example
    label_map = gt.label_map.clip(0, 46).astype(np.uint8)
    study = compare.prompt_with_ocrnet_regions(tiny_sam, rgb, label_map, gt, min_pixels=64)
    expected = [lab for lab in np.unique(label_map) if lab != 0 and np.count_nonzero(label_map == lab) >= 64]
    assert sorted(r.label for r in study.rows) == sorted(int(v) for v in expected)
    assert all(r.iou is not None for r in study.rows)
