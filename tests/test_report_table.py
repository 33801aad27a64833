"""Table 2 rendering, reading and comparison, built from a real ConfusionMatrix and read back from disk."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from fashiondemo.classes import CLASS_NAMES, NUM_CLASSES
from fashiondemo.metrics import ConfusionMatrix
from fashiondemo.report_table import (
    SEED_TABLE_PATH,
    Comparison,
    Table2,
    read_seed_table,
    read_table_csv,
    write_text_atomic,
)


@pytest.fixture
def table() -> Table2:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 30, size=(64, 64), dtype=np.uint8)  # labels 30..46 never appear -> NaN rows
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 30, size=gt.shape)).astype(np.uint8)
    gt[:4] = 255
    cm = ConfusionMatrix().update(pred, gt).update(pred[::-1], gt[::-1])
    return Table2.from_confusion(
        cm, metadata={"checkpoint": "random", "split": "val", "random_weights": True}
    )


def test_from_confusion_carries_metrics_and_metadata(table):
    assert table.metadata["n_images"] == 2 and table.metadata["random_weights"] is True
    assert np.isnan(table.iou[30:]).all() and np.isfinite(table.iou[:30]).all()
    assert table.m_iou == pytest.approx(np.nanmean(table.iou))
    assert 0 < table.a_acc < 100


def test_csv_has_seed_columns_and_reads_back(table, tmp_path):
    paths = table.write(tmp_path)
    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    with open(SEED_TABLE_PATH, newline="") as f:
        seed_columns = csv.DictReader(f).fieldnames
    assert list(rows[0]) == seed_columns
    assert [r["class"] for r in rows] == list(CLASS_NAMES)
    assert rows[40]["IoU"] == "nan"
    back = read_table_csv(paths["csv"])
    np.testing.assert_allclose(back.iou, table.iou, atol=0.005, equal_nan=True)
    np.testing.assert_allclose(back.acc, table.acc, atol=0.005, equal_nan=True)


def test_json_is_strict_and_complete(table, tmp_path):
    doc = json.loads(table.write(tmp_path)["json"].read_text())
    assert doc["metadata"]["split"] == "val"
    assert doc["summary"]["mIoU"] == pytest.approx(table.m_iou)
    assert len(doc["per_class"]) == NUM_CLASSES
    assert doc["per_class"][45]["IoU"] is None  # NaN -> null, never the invalid JSON token NaN
    assert doc["per_class"][1]["IoU"] == pytest.approx(table.iou[1])


def test_markdown_lists_every_class_and_summary(table):
    md = table.to_markdown()
    for name in CLASS_NAMES:
        assert f"| {name} |" in md
    assert f"| {table.a_acc:.2f} | {table.m_iou:.2f} | {table.m_acc:.2f} |" in md
    assert "| 46 | tassel | - | - |" in md


def test_seed_table_reads_with_report_figures():
    seed = read_seed_table()
    assert (round(seed.m_iou, 2), round(seed.m_acc, 2), seed.a_acc) == (14.93, 19.01, 93.7)
    assert seed.iou[0] == 97.06 and seed.acc[11] == 83.19  # background, dress


def test_comparison_deltas(table, tmp_path):
    seed = read_seed_table()
    comp = Comparison(table, seed)
    rows = comp.rows()
    assert rows[7][4] == pytest.approx(table.iou[7] - seed.iou[7])
    assert rows[7][7] == pytest.approx(table.acc[7] - seed.acc[7])
    md = comp.to_markdown()
    assert f"| mIoU | {table.m_iou:.2f} | 14.93 | {table.m_iou - seed.m_iou:+.2f} |" in md
    paths = comp.write(tmp_path)
    with open(paths["csv"], newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "label",
        "class",
        "IoU ours",
        "IoU seed",
        "IoU delta",
        "Acc ours",
        "Acc seed",
        "Acc delta",
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[:-1], "expected 47 class rows"),
        (lambda rows: [rows[1], rows[0], *rows[2:]], "row 2 is label '1'"),
        (lambda rows: [*rows[:5], [5, "jacket", "abc", "1"], *rows[6:]], "not a number"),
        (lambda rows: [*rows[:5], [5, "jacket", "140", "1"], *rows[6:]], "outside 0..100"),
    ],
)
def test_bad_csv_is_refused(tmp_path, mutate, message):
    with open(SEED_TABLE_PATH, newline="") as f:
        header, *rows = list(csv.reader(f))
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *mutate(rows)])
    with pytest.raises(ValueError, match=message):
        read_table_csv(path)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match=r"shape \(47,\)"):
        Table2.from_arrays([1.0] * 46, [1.0] * 47)
    with pytest.raises(ValueError, match="47 classes"):
        Table2.from_confusion(ConfusionMatrix(num_classes=5))


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "t.md"
    write_text_atomic(path, "old\n")

    with pytest.raises(TypeError):
        write_text_atomic(path, 123)  # not text: fails mid-write
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]  # no temp file left behind
