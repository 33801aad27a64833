"""The synthetic dataset: Fashionpedia's exact format, deterministic, fast, pictures that match the labels."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from fashiondemo.classes import CATEGORY_NAMES, FASHIONPEDIA_CATEGORIES, is_part_category
from fashiondemo.fashionpedia import FashionpediaSplit, quiet_pycocotools
from fashiondemo.fashionpedia_validate import decode_compressed_counts
from fashiondemo.synthetic import uncompressed_rle, write_dataset

TRAIN_JSON, VAL_JSON = "instances_attributes_train2020.json", "instances_attributes_val2020.json"


def _load(path):
    return json.loads(path.read_text())


def _all_files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_dataset(tmp_path / "a", 3, 2, seed=7)
    b = write_dataset(tmp_path / "b", 3, 2, seed=7)
    c = write_dataset(tmp_path / "c", 3, 2, seed=8)
    files_a, files_b, files_c = _all_files(a), _all_files(b), _all_files(c)
    assert len(files_a) == 2 + 3 + 2
    assert files_a == files_b
    assert files_a[Path(TRAIN_JSON)] != files_c[Path(TRAIN_JSON)]


def test_sixteen_images_take_a_couple_of_seconds(tmp_path):
    start = time.perf_counter()
    write_dataset(tmp_path, 16, 4, seed=1)
    assert time.perf_counter() - start < 8.0  # ~1 s here; generous for a busy CI machine


def test_fashionpedia_keys_and_fields(synthetic_dataset):
    for json_name, folder, count in ((TRAIN_JSON, "train", 12), (VAL_JSON, "test", 4)):
        data = _load(synthetic_dataset / json_name)
        assert set(data) == {"info", "licenses", "images", "annotations", "categories", "attributes"}
        assert len(data["images"]) == count
        image_keys = {"id", "width", "height", "file_name", "license", "time_captured", "original_url"}
        for image in data["images"]:
            assert set(image) == image_keys | {"isstatic", "kaggle_id"}
            assert (synthetic_dataset / folder / image["file_name"]).is_file()
        for ann in data["annotations"]:
            assert set(ann) == {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd",
                                "attribute_ids"}  # fmt: skip
        assert [(c["id"], c["name"], c["supercategory"]) for c in data["categories"]] == [
            (i, name, sup) for i, (name, sup) in enumerate(FASHIONPEDIA_CATEGORIES)
        ]
        assert all({"id", "name", "supercategory", "level"} <= set(a) for a in data["attributes"])
        attribute_ids = {a["id"] for a in data["attributes"]}
        assert all(set(ann["attribute_ids"]) <= attribute_ids for ann in data["annotations"])


def test_polygons_rle_and_crowd_all_occur(tmp_path):
    data = _load(write_dataset(tmp_path, 16, 2, seed=0) / TRAIN_JSON)
    kinds = set()
    for ann in data["annotations"]:
        seg = ann["segmentation"]
        if isinstance(seg, list):
            kinds.add("polygon")
        elif isinstance(seg["counts"], str):
            kinds.add("compressed rle")
        else:
            kinds.add("uncompressed rle")
            assert ann["iscrowd"] == 1  # COCO writes crowd regions as uncompressed RLE
    assert kinds == {"polygon", "compressed rle", "uncompressed rle"}
    assert len({ann["category_id"] for ann in data["annotations"]}) >= 25
    assert len({(img["width"], img["height"]) for img in data["images"]}) == 16


def test_area_and_bbox_agree_with_the_segmentation(synthetic_dataset):
    data = _load(synthetic_dataset / TRAIN_JSON)
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    for ann in data["annotations"]:
        h, w = sizes[ann["image_id"]]
        seg = ann["segmentation"]
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w)) if isinstance(seg, list) else seg
        if isinstance(rle["counts"], list):
            rle = mask_utils.frPyObjects(rle, h, w)
        assert int(mask_utils.area(rle)) == ann["area"] > 0
        np.testing.assert_allclose(mask_utils.toBbox(rle), ann["bbox"], atol=0.01)


def test_parts_overlap_their_garments(synthetic_dataset):
    split = FashionpediaSplit(synthetic_dataset / TRAIN_JSON, synthetic_dataset / "train")
    inside = 0
    for image_id in split.image_ids:
        instances = split.instances(image_id)
        garments = [i for i in instances if not is_part_category(i.category_id) and not i.iscrowd]
        for part in (i for i in instances if is_part_category(i.category_id) and not i.iscrowd):
            best = max(((part.mask & g.mask).sum() / part.area for g in garments), default=0)
            inside += best > 0.9
    assert inside >= 20  # sleeves, necklines, collars, pockets, zippers lie inside a garment


def test_uncompressed_rle_matches_pycocotools():
    rng = np.random.default_rng(3)
    for shape in ((5, 7), (1, 1), (9, 4)):
        mask = rng.random(shape) < 0.5
        mask[0, 0] = True  # the first run must then be an explicit 0
        ours = mask_utils.frPyObjects(uncompressed_rle(mask), *shape)
        with quiet_pycocotools():
            assert np.array_equal(mask_utils.decode(ours).astype(bool), mask)
        theirs = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert decode_compressed_counts(theirs["counts"].decode()) == uncompressed_rle(mask)["counts"]


def test_pictures_show_the_labelled_classes(synthetic_dataset):
    """A nearest-mean-colour classifier fit on train pixels labels val pixels far better than chance."""
    train = FashionpediaSplit(synthetic_dataset / TRAIN_JSON, synthetic_dataset / "train")
    val = FashionpediaSplit(synthetic_dataset / VAL_JSON, synthetic_dataset / "test")
    sums, counts = np.zeros((256, 3)), np.zeros(256)
    for image_id in train.image_ids:
        labels = train.semantic_map(image_id).ravel()
        np.add.at(sums, labels, train.load_image(image_id).reshape(-1, 3).astype(float))
        np.add.at(counts, labels, 1)
    present = np.flatnonzero(counts[1:47]) + 1
    means = sums[present] / counts[present, None]
    correct = total = 0
    for image_id in val.image_ids:
        labels = val.semantic_map(image_id).ravel()
        pixels = val.load_image(image_id).reshape(-1, 3).astype(float)
        fg = (labels > 0) & (labels < 255)
        predicted = present[((pixels[fg, None, :] - means[None]) ** 2).sum(-1).argmin(1)]
        correct += int((predicted == labels[fg]).sum())
        total += int(fg.sum())
    assert len(present) >= 20
    assert correct / total > 0.3  # chance is ~1/len(present); measured 0.5 with 12 train images


def test_cli_writes_both_splits(tmp_path):
    command = [sys.executable, "-m", "fashiondemo.synthetic", "--out", str(tmp_path), "--images", "5"]
    result = subprocess.run([*command, "--seed", "2"], capture_output=True, text=True, check=True)
    assert "train: 5 images" in result.stdout and "val: 2 images" in result.stdout
    assert len(list((tmp_path / "train").glob("*.jpg"))) == 5
    assert len(list((tmp_path / "test").glob("*.jpg"))) == 2  # default max(2, 5 // 4)
    assert [c["name"] for c in _load(tmp_path / VAL_JSON)["categories"]] == list(CATEGORY_NAMES)


def test_negative_counts_are_refused(tmp_path):
    with pytest.raises(ValueError, match=">= 0"):
        write_dataset(tmp_path, -1, 1)
