"""analyze: class frequency and image-size outputs agree with counts taken straight from the json."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from fashiondemo.analyze import analyze
from fashiondemo.classes import CATEGORY_NAMES

TRAIN_JSON = "instances_attributes_train2020.json"
OUTPUTS = ["class_frequency.csv", "class_frequency.png", "image_size_stats.csv", "image_size_stats.md",
           "image_size_distribution.png"]  # fmt: skip


@pytest.fixture(scope="module")
def analysis(synthetic_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    analyze(synthetic_dataset / TRAIN_JSON, synthetic_dataset / "train", out)
    return out


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writes_the_five_outputs(analysis):
    assert sorted(p.name for p in analysis.iterdir()) == sorted(OUTPUTS)  # no temp files left behind
    for name in ("class_frequency.png", "image_size_distribution.png"):
        with Image.open(analysis / name) as image:
            assert image.format == "PNG" and min(image.size) >= 600


def test_class_frequency_matches_the_json(analysis, synthetic_dataset):
    data = json.loads((synthetic_dataset / TRAIN_JSON).read_text())
    expected = Counter(ann["category_id"] for ann in data["annotations"])
    crowd = Counter(ann["category_id"] for ann in data["annotations"] if ann["iscrowd"])
    rows = _rows(analysis / "class_frequency.csv")
    assert [row["name"] for row in rows] == list(CATEGORY_NAMES)  # all 46, zeros included
    for row in rows:
        category = int(row["category_id"])
        assert int(row["label"]) == category + 1
        assert int(row["instances"]) == expected[category]
        assert int(row["crowd_instances"]) == crowd[category]
    assert sum(float(row["percent_of_instances"]) for row in rows) == pytest.approx(100, abs=0.05)
    images_with_sleeves = {a["image_id"] for a in data["annotations"] if a["category_id"] == 31}
    assert int(rows[31]["images"]) == len(images_with_sleeves)


def test_size_table_matches_the_json(analysis, synthetic_dataset):
    data = json.loads((synthetic_dataset / TRAIN_JSON).read_text())
    heights = np.array([img["height"] for img in data["images"]])
    widths = np.array([img["width"] for img in data["images"]])
    rows = {row["dimension"]: row for row in _rows(analysis / "image_size_stats.csv")}
    for name, values in (("height", heights), ("width", widths)):
        assert float(rows[name]["max"]) == values.max() and float(rows[name]["min"]) == values.min()
        assert float(rows[name]["mean"]) == pytest.approx(values.mean(), abs=0.01)
    markdown = (analysis / "image_size_stats.md").read_text()
    assert f"| Height | {heights.max()} | {heights.min()} | {heights.mean():.1f} |" in markdown
    assert "from the annotation json (images not decoded)" in markdown
    assert "12 of the 12 listed files are present" in markdown


def test_missing_files_are_reported(synthetic_dataset, tmp_path):
    images = tmp_path / "train"
    shutil.copytree(synthetic_dataset / "train", images)
    next(images.glob("*.jpg")).unlink()
    analyze(synthetic_dataset / TRAIN_JSON, images, tmp_path / "out")
    assert "11 of the 12 listed files are present" in (tmp_path / "out" / "image_size_stats.md").read_text()


def test_cli(synthetic_dataset, tmp_path):
    command = [sys.executable, "-m", "fashiondemo.analyze", "--ann", str(synthetic_dataset / TRAIN_JSON)]
    command += ["--images", str(synthetic_dataset / "train"), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| Height |" in result.stdout and "wrote" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUTS)
    (tmp_path / "bad.json").write_text('{"images": [], "annotations": [], "categories": []}')
    command[4] = str(tmp_path / "bad.json")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "error:" in result.stderr and "categories" in result.stderr
