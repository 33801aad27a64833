"""prepare: image + label-PNG pairs aligned with the semantic maps, resumable, safe to interrupt, parallel."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.prepare import TEMP_MARK, output_size, prepare_split, split_from_name

TRAIN_JSON = "instances_attributes_train2020.json"


def _read(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture()
def small_copy(synthetic_dataset, tmp_path):
    """A 4-image train split of its own, so tests can break and rerun it freely."""
    import json

    data = json.loads((synthetic_dataset / TRAIN_JSON).read_text())
    keep = {img["id"] for img in data["images"][:4]}
    data["images"] = [img for img in data["images"] if img["id"] in keep]
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] in keep]
    (tmp_path / "train").mkdir()
    for img in data["images"]:
        shutil.copy(synthetic_dataset / "train" / img["file_name"], tmp_path / "train" / img["file_name"])
    (tmp_path / TRAIN_JSON).write_text(json.dumps(data))
    return tmp_path


def test_labels_match_semantic_maps_and_images_match(prepared_dataset, synthetic_dataset):
    split = FashionpediaSplit(synthetic_dataset / TRAIN_JSON, synthetic_dataset / "train")
    for image_id in split.image_ids:
        stem = split.image_info(image_id)["file_name"][:-4]
        labels = _read(prepared_dataset / "ann_dir" / "train" / f"{stem}.png")
        image = _read(prepared_dataset / "img_dir" / "train" / f"{stem}.jpg")
        assert labels.dtype == np.uint8 and labels.ndim == 2
        assert np.array_equal(
            labels, split.semantic_map(image_id)
        )  # synthetic images are < 1024 px: no resize
        assert image.shape == (*labels.shape, 3)
        assert np.abs(image.astype(int) - split.load_image(image_id)).mean() < 3  # one JPEG re-encode apart
    assert len(list((prepared_dataset / "ann_dir" / "val").glob("*.png"))) == 4


def test_label_values_are_classes_or_ignore(prepared_dataset):
    values = set()
    for path in (prepared_dataset / "ann_dir").rglob("*.png"):
        values |= set(np.unique(_read(path)).tolist())
    assert values <= set(range(47)) | {255}
    assert {0, 255} <= values and len(values) > 20


def test_long_side_cap_resizes_both_with_nearest_labels(small_copy, tmp_path):
    out = tmp_path / "out"
    summary = prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out, max_side=128)
    split = FashionpediaSplit(small_copy / TRAIN_JSON, small_copy / "train")
    assert summary.written == 4
    for image_id in split.image_ids:
        info = split.image_info(image_id)
        stem = info["file_name"][:-4]
        labels = _read(out / "ann_dir" / "train" / f"{stem}.png")
        image = _read(out / "img_dir" / "train" / f"{stem}.jpg")
        assert max(labels.shape) == 128
        assert labels.shape == image.shape[:2] == output_size(info["width"], info["height"], 128)[::-1]
        # nearest neighbour invents no label (a linear resize would create in-between values)
        assert set(np.unique(labels)) <= set(np.unique(split.semantic_map(image_id)))


def test_output_size():
    assert output_size(2000, 1000, 1024) == (1024, 512)
    assert output_size(1000, 3000, 1024) == (341, 1024)
    assert output_size(800, 600, 1024) == (800, 600)
    assert output_size(5000, 10, 0) == (5000, 10)
    assert output_size(10000, 3, 1024) == (1024, 1)


def test_rerun_skips_finished_pairs(small_copy, tmp_path):
    out = tmp_path / "out"
    first = prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.*")}
    second = prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out)
    assert (first.written, first.skipped, second.written, second.skipped) == (4, 0, 0, 4)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.*")} == stamps
    assert "0 written, 4 already done, 0 failed" in second.line()


def test_interrupted_run_is_completed_and_cleaned(small_copy, tmp_path):
    out = tmp_path / "out"
    prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out)
    labels = sorted((out / "ann_dir" / "train").glob("*.png"))
    reference = labels[0].read_bytes()
    # What a kill between the image rename and the label rename leaves: an image, no label, a temp file.
    labels[0].unlink()
    leftover = labels[0].with_name(f"{TEMP_MARK}123-{labels[0].name}")
    leftover.write_bytes(reference[:10])
    summary = prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out)
    assert (summary.written, summary.skipped) == (1, 3)
    assert labels[0].read_bytes() == reference
    assert not leftover.exists()
    assert not list(out.rglob(f"{TEMP_MARK}*"))


def test_one_and_two_workers_write_identical_files(small_copy, tmp_path):
    prepare_split(small_copy / TRAIN_JSON, small_copy / "train", tmp_path / "one", workers=1)
    prepare_split(small_copy / TRAIN_JSON, small_copy / "train", tmp_path / "two", workers=2)
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*.*")}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*.*")}
    assert len(one) == 8 and one == two


def test_split_name_from_the_json_name():
    assert split_from_name("x/instances_attributes_train2020.json") == "train"
    assert split_from_name("instances_attributes_val2020.json") == "val"
    with pytest.raises(ValueError, match="--split"):
        split_from_name("annotations.json")


def test_cli_reports_a_broken_image_and_converts_the_rest(small_copy, tmp_path):
    broken = sorted((small_copy / "train").glob("*.jpg"))[0]
    broken.write_bytes(broken.read_bytes()[:300])  # truncated JPEG
    command = [sys.executable, "-m", "fashiondemo.prepare", "--ann", str(small_copy / TRAIN_JSON)]
    command += ["--images", str(small_copy / "train"), "--out", str(tmp_path / "out"), "--workers", "2"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "prepare train: 3 written, 0 already done, 1 failed" in result.stdout
    assert f"failed: {broken.name}" in result.stderr and "truncated" in result.stderr
    assert len(list((tmp_path / "out" / "ann_dir" / "train").glob("*.png"))) == 3


def test_exif_rotated_source_is_written_upright_and_aligned(small_copy, tmp_path):
    split = FashionpediaSplit(small_copy / TRAIN_JSON, small_copy / "train")
    image_id = split.image_ids[0]
    upright = split.load_image(image_id)
    # Store the pixels turned 90 degrees counter-clockwise with EXIF orientation 6 ("turn clockwise to view"),
    # as phones do; the json keeps the upright size.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(
        split.image_path(image_id), quality=95, exif=exif
    )
    out = tmp_path / "out"
    assert prepare_split(small_copy / TRAIN_JSON, small_copy / "train", out).written == 4
    stem = split.image_path(image_id).stem
    written = Image.open(out / "img_dir" / "train" / f"{stem}.jpg")
    assert written.getexif().get(0x0112) is None  # orientation baked into the pixels, no tag left to re-apply
    assert np.abs(np.asarray(written).astype(int) - upright).mean() < 4
    assert np.array_equal(_read(out / "ann_dir" / "train" / f"{stem}.png"), split.semantic_map(image_id))


def test_workers_start_cleanly_from_a_process_whose_thread_pools_ran(small_copy, tmp_path):
    """Forked workers used to hang when the caller had already run OpenCV/torch thread pools (the test suite,
    a notebook); spawned workers that get their image's part of the json do not."""
    root = small_copy
    code = (
        "import sys, cv2, numpy as np, torch\n"
        "torch.set_num_threads(2); torch.ones(512, 512) @ torch.ones(512, 512)\n"
        "cv2.setNumThreads(2); cv2.resize(np.zeros((2000, 2000, 3), np.uint8), (999, 777))\n"
        "from fashiondemo.prepare import prepare_split\n"
        "s = prepare_split(sys.argv[1], sys.argv[2], sys.argv[3], split='train', workers=2)\n"
        "print(s.written, len(s.failed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root / TRAIN_JSON), str(root / "train"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    written, failed = map(int, result.stdout.split())
    assert written == len(list((tmp_path / "out" / "ann_dir" / "train").glob("*.png"))) > 0 and failed == 0
