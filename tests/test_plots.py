"""plots: real PNGs from a real ConfusionMatrix, checked by what the pixels show."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fashiondemo import plots
from fashiondemo.metrics import ConfusionMatrix
from fashiondemo.report_table import Table2, read_seed_table


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def _pixels_of(path, colour: str) -> int:
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(img - _hex_rgb(colour)).sum(axis=2) <= 6).sum())


@pytest.fixture
def cm() -> ConfusionMatrix:
    rng = np.random.default_rng(0)
    cm = ConfusionMatrix()
    for _ in range(3):
        gt = rng.integers(0, 40, size=(64, 64), dtype=np.uint8)  # 40..46 never in GT nor predicted
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 40, size=gt.shape)).astype(np.uint8)
        cm.update(pred, gt)
    return cm


def test_bar_chart_with_and_without_reference(cm, tmp_path):
    table = Table2.from_confusion(cm, {"split": "val", "random_weights": True})
    alone = plots.per_class_bar_chart(table, tmp_path / "iou.png")
    both = plots.per_class_bar_chart(table, tmp_path / "iou_vs_seed.png", reference=read_seed_table())
    for path in (alone, both):
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width >= 900 and img.height >= 1200  # 47 readable rows
    assert _pixels_of(alone, plots.OURS_COLOUR) > 5000
    assert _pixels_of(alone, plots.REFERENCE_COLOUR) == 0
    assert _pixels_of(both, plots.REFERENCE_COLOUR) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iou.png", "iou_vs_seed.png"]  # no temp files left


def test_bar_lengths_follow_values(tmp_path):
    iou = np.full(47, np.nan)
    iou[0], iou[1] = 80.0, 20.0
    short = plots.per_class_bar_chart(Table2.from_arrays(iou, iou), tmp_path / "a.png")
    iou[1] = 60.0
    longer = plots.per_class_bar_chart(Table2.from_arrays(iou, iou), tmp_path / "b.png")
    # Only class 1's bar changed, growing from 20 to 60 on a 0..100 axis.
    assert _pixels_of(longer, plots.OURS_COLOUR) > _pixels_of(short, plots.OURS_COLOUR) * 1.2


def test_titles_flag_random_weights(cm):
    title = plots._default_title(Table2.from_confusion(cm, {"split": "val", "random_weights": True}), "IoU")
    assert "RANDOM WEIGHTS" in title and "3 images" in title
    assert "RANDOM" not in plots._default_title(Table2.from_confusion(cm), "Acc")


def test_confusion_matrix_plot(cm, tmp_path):
    path = plots.confusion_matrix_plot(cm, tmp_path / "cm.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 800
    with pytest.raises(ValueError, match="class names"):
        plots.confusion_matrix_plot(cm, tmp_path / "x.png", class_names=("a", "b"))


def test_bad_metric_is_refused(cm, tmp_path):
    with pytest.raises(ValueError, match="'IoU' or 'Acc'"):
        plots.per_class_bar_chart(Table2.from_confusion(cm), tmp_path / "x.png", metric="Dice")


def test_import_is_light():
    code = "import sys, fashiondemo.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
