"""ConfusionMatrix cross-checked against mmsegmentation's own IoUMetric on the same random predictions."""

from __future__ import annotations

import numpy as np
import pytest

from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES
from fashiondemo.metrics import ConfusionMatrix, best_matching_instance, image_scores, mask_iou
from fashiondemo.report_table import read_table_csv

ABSENT_FROM_BOTH = (5, 13, 40, 41)  # never in GT nor prediction -> IoU and Acc NaN, skipped by the means
ONLY_PREDICTED = 17  # predicted but never in GT -> IoU 0, Acc NaN
ONLY_IN_GT = 30  # in GT but never predicted -> IoU 0, Acc 0


def random_pairs(seed: int = 0, n: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blocky GT maps of varying sizes with ignore pixels, and predictions that are GT plus errors."""
    rng = np.random.default_rng(seed)
    allowed = np.array([c for c in range(NUM_CLASSES) if c not in (*ABSENT_FROM_BOTH, ONLY_PREDICTED)])
    pairs = []
    for i in range(n):
        h, w = 48 + 8 * i, 64 - 8 * (i % 4)
        coarse = rng.choice(allowed, size=(h // 8, w // 8))
        gt = np.kron(coarse, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
        gt[rng.random((h, w)) < 0.05] = IGNORE_INDEX
        pred = gt.copy()
        pred[pred == IGNORE_INDEX] = rng.choice(
            allowed[allowed != ONLY_IN_GT], size=(pred == IGNORE_INDEX).sum()
        )
        noise = rng.random((h, w)) < 0.3
        pred[noise] = rng.choice(allowed[allowed != ONLY_IN_GT], size=noise.sum())
        pred[pred == ONLY_IN_GT] = 0
        pred[rng.random((h, w)) < 0.01] = ONLY_PREDICTED
        pairs.append((pred, gt))
    return pairs


def accumulate(pairs) -> ConfusionMatrix:
    cm = ConfusionMatrix()
    for pred, gt in pairs:
        cm.update(pred, gt)
    return cm


def mmseg_reference(pairs):
    """Per-class IoU/Acc and aAcc from mmseg's static methods, with the summed areas in float64."""
    torch = pytest.importorskip("torch")
    from mmseg.evaluation.metrics.iou_metric import IoUMetric

    areas = [
        IoUMetric.intersect_and_union(
            torch.from_numpy(p).long(), torch.from_numpy(g).long(), NUM_CLASSES, 255
        )
        for p, g in pairs
    ]
    # histc counts are exact integers in float32 here (< 2**24 per class); summing in float64 keeps them
    # exact, so the comparison is not limited by float32 division.
    totals = [sum(a[k].double() for a in areas) for k in range(4)]
    return IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])


def test_matches_mmseg_static_methods_per_class_and_summary():
    pairs = random_pairs()
    ref = mmseg_reference(pairs)
    cm = accumulate(pairs)
    np.testing.assert_allclose(cm.per_class_iou(), ref["IoU"], atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(cm.per_class_acc(), ref["Acc"], atol=1e-6, equal_nan=True)
    summary = cm.summary()
    assert summary["aAcc"] == pytest.approx(100 * float(ref["aAcc"]), abs=1e-6)
    assert summary["mIoU"] == pytest.approx(100 * np.nanmean(ref["IoU"]), abs=1e-6)
    assert summary["mAcc"] == pytest.approx(100 * np.nanmean(ref["Acc"]), abs=1e-6)
    # The fixture really exercises the NaN rules.
    iou, acc = cm.per_class_iou(), cm.per_class_acc()
    assert np.isnan(iou[list(ABSENT_FROM_BOTH)]).all() and np.isnan(acc[list(ABSENT_FROM_BOTH)]).all()
    assert iou[ONLY_PREDICTED] == 0 and np.isnan(acc[ONLY_PREDICTED])
    assert iou[ONLY_IN_GT] == 0 and acc[ONLY_IN_GT] == 0


def test_matches_mmseg_iou_metric_end_to_end():
    """The full IoUMetric (process + compute_metrics) as mmseg's evaluator runs it; it rounds to 0.01."""
    torch = pytest.importorskip("torch")
    from mmseg.evaluation.metrics.iou_metric import IoUMetric

    pairs = random_pairs(seed=1)
    metric = IoUMetric(ignore_index=IGNORE_INDEX)
    metric.dataset_meta = {"classes": CLASS_NAMES}
    samples = [
        {
            "pred_sem_seg": {"data": torch.from_numpy(p).long()[None]},
            "gt_sem_seg": {"data": torch.from_numpy(g)[None]},
        }
        for p, g in pairs
    ]
    metric.process({}, samples)
    theirs = metric.compute_metrics(metric.results)
    ours = accumulate(pairs).summary()
    for key in ("aAcc", "mIoU", "mAcc"):
        assert abs(float(theirs[key]) - ours[key]) <= 0.005 + 1e-6, (key, theirs[key], ours[key])


def test_ignore_label_is_excluded():
    gt = np.array([[1, 2, 255, 255]], dtype=np.uint8)
    pred = np.array([[1, 1, 3, 4]], dtype=np.uint8)
    cm = ConfusionMatrix().update(pred, gt)
    assert cm.labelled_pixels == 2
    assert cm.matrix[1, 1] == 1 and cm.matrix[2, 1] == 1
    assert (
        cm.matrix[:, 3].sum() == 0 and cm.matrix[:, 4].sum() == 0
    )  # predictions on ignore pixels don't count
    assert cm.summary()["aAcc"] == pytest.approx(50.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.uint16, np.uint64])
def test_dtypes_agree(dtype):
    pairs = random_pairs(seed=2, n=3)
    base = accumulate(pairs).matrix
    other = accumulate([(p.astype(dtype), g.astype(dtype)) for p, g in pairs]).matrix
    np.testing.assert_array_equal(base, other)


def test_general_path_matches_direct_count():
    """Labels beyond a byte and a negative ignore take the masked path; checked against a direct count."""
    rng = np.random.default_rng(5)
    gt = rng.integers(-1, 300, size=(40, 30))
    pred = rng.integers(0, 300, size=(40, 30))
    expected = np.zeros((300, 300), dtype=np.int64)
    for g, p in zip(gt.ravel(), pred.ravel(), strict=True):
        if g != -1:
            expected[g, p] += 1
    np.testing.assert_array_equal(ConfusionMatrix(300, ignore_index=-1).update(pred, gt).matrix, expected)
    with pytest.raises(ValueError, match="pred holds label 47"):
        ConfusionMatrix(ignore_index=-1).update(np.full((2, 2), 47, np.uint8), np.zeros((2, 2), np.uint8))


def test_merge_equals_one_pass():
    pairs = random_pairs(seed=3)
    a, b = accumulate(pairs[:2]), accumulate(pairs[2:])
    merged = a.merge(b)
    np.testing.assert_array_equal(merged.matrix, accumulate(pairs).matrix)
    assert merged.n_images == len(pairs)
    with pytest.raises(ValueError, match="cannot merge"):
        merged.merge(ConfusionMatrix(num_classes=10))


@pytest.mark.parametrize(
    ("pred", "gt", "error", "message"),
    [
        (np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), ValueError, "shapes differ"),
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8), TypeError, "integer labels"),
        (np.full((4, 4), 47, np.uint8), np.zeros((4, 4), np.uint8), ValueError, "pred holds label 47"),
        (np.zeros((4, 4), np.uint8), np.full((4, 4), 100, np.uint8), ValueError, "gt holds label 100"),
        (np.zeros((4, 4), np.int64), np.full((4, 4), -1, np.int64), ValueError, "gt holds label -1"),
        (np.full((4, 4), 300, np.int64), np.zeros((4, 4), np.int64), ValueError, "pred holds label 300"),
        ([[0]], np.zeros((1, 1), np.uint8), TypeError, "numpy array"),
    ],
)
def test_bad_input_is_a_clear_error(pred, gt, error, message):
    cm = ConfusionMatrix()
    with pytest.raises(error, match=message):
        cm.update(pred, gt)
    assert cm.labelled_pixels == 0 and cm.n_images == 0


def test_empty_matrix_summary_is_nan():
    summary = ConfusionMatrix().summary()
    assert all(np.isnan(v) for v in summary.values())


def test_image_scores_lists_classes_present():
    gt = np.array([[0, 0, 3, 3], [0, 0, 3, 3]], dtype=np.uint8)
    pred = np.array([[0, 0, 3, 7], [0, 0, 3, 3]], dtype=np.uint8)
    s = image_scores(pred, gt)
    assert s.labels == (0, 3, 7)
    assert s.iou == pytest.approx((1.0, 0.75, 0.0))
    assert s.acc[:2] == pytest.approx((1.0, 0.75)) and np.isnan(s.acc[2])
    assert s.miou == pytest.approx(100 * (1 + 0.75 + 0) / 3)
    assert s.macc == pytest.approx(100 * 1.75 / 2)
    assert image_scores(pred, gt, include_background=False).labels == (3, 7)


def test_mask_iou_and_best_match():
    a = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True
    b = np.zeros((10, 10), bool)
    b[4:8, 4:8] = True
    assert mask_iou(a, b) == pytest.approx(4 / 28)
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 0.0
    instances = np.stack([b, a, np.zeros_like(a)])
    assert best_matching_instance(a, instances) == (1, 1.0)
    idx, iou = best_matching_instance(b | a, instances)
    assert idx == 0 and iou == pytest.approx(16 / 28)
    assert best_matching_instance(a, np.zeros((0, 10, 10), bool)) == (None, 0.0)
    with pytest.raises(ValueError, match="instance masks"):
        best_matching_instance(a, np.zeros((2, 5, 5), bool))


def test_seed_table_means(seed_table_rows):
    table = read_table_csv()
    assert round(table.m_iou, 2) == 14.93
    assert round(table.m_acc, 2) == 19.01
    # The plain means of the 47 CSV rows, computed independently of the reader.
    assert table.m_iou == pytest.approx(np.mean([float(r["IoU"]) for r in seed_table_rows]))
    assert len(seed_table_rows) == NUM_CLASSES


def test_bench_script_runs_and_checks_agreement(tmp_path):
    """bench/bench_metrics.py at toy size: it must run, agree with mmseg, and write its JSON.

    A subprocess, because the bench sets torch's thread count and mmengine's log level for its process."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "bench_metrics.py"
    out = tmp_path / "metrics.json"
    args = ["--images", "3", "--size", "64", "--repeats", "1", "--out", str(out)]
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "identical:" in run.stdout
    doc = json.loads(out.read_text())
    assert [r["dtype"] for r in doc["results"]] == ["uint8", "int64"]
    assert max(doc["agreement"]["uint8"]["max_abs_diff"].values()) <= 1e-6
