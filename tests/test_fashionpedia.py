"""FashionpediaSplit: malformed files give clear errors (or counted skips), never a crash; a golden map."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from fashiondemo.classes import FASHIONPEDIA_CATEGORIES, IGNORE_INDEX
from fashiondemo.fashionpedia import AnnotationError, FashionpediaSplit, paint_order, quiet_pycocotools
from fashiondemo.fashionpedia_validate import decode_compressed_counts
from fashiondemo.images import ImageLoadError

MALFORMED = Path(__file__).parent / "data" / "malformed"
CATEGORIES = [{"id": i, "name": n, "supercategory": s} for i, (n, s) in enumerate(FASHIONPEDIA_CATEGORIES)]

# file -> (reason counted in lenient mode, what the strict error must say)
BAD_ANNOTATIONS = {
    "polygon_nan": ("bad_polygon", r"annotation 7 \(image 1\): polygon 0 has a non-finite .* nan"),
    "polygon_infinity": ("bad_polygon", r"annotation 7 \(image 1\): polygon 0 has a non-finite .* inf"),
    "polygon_odd_length": ("bad_polygon", r"annotation 7 \(image 1\): polygon 0 has an odd number .*\(7\)"),
    "polygon_four_numbers": ("bad_polygon", r"annotation 7 \(image 1\): polygon 0 has 4 numbers; .*>= 3"),
    "polygon_strings": ("bad_polygon", r"annotation 7 \(image 1\): .* non-numeric coordinate '0'"),
    "segmentation_empty": ("empty_segmentation", r"annotation 7 \(image 1\): has an empty segmentation"),
    "polygon_empty": ("empty_segmentation", r"annotation 7 \(image 1\): has an empty polygon"),
    "rle_short_counts": ("bad_rle", r"annotation 7 \(image 1\): RLE counts sum to 5 pixels .* 4x4 = 16"),
    "rle_negative_run": ("bad_rle", r"annotation 7 \(image 1\): RLE counts contain a negative run"),
    "rle_compressed_wrong_sum": ("bad_rle", r"annotation 7 \(image 1\): RLE counts sum to 20 pixels"),
    "rle_compressed_corrupt": ("bad_rle", r"annotation 7 \(image 1\): compressed RLE counts are corrupt"),
    "rle_size_mismatch": ("bad_rle", r"annotation 7 \(image 1\): RLE size \[4, 5\] .* differs .* \[4, 4\]"),
    "unknown_category": ("unknown_category", r"annotation 7 \(image 1\): has category_id 46; .* 0\.\.45"),
    "missing_image": ("missing_image", r"annotation 7 \(image 99\): refers to image id 99, which the json"),
    "duplicate_annotation_id": ("duplicate_id", r"annotation 1 \(image 1\): the annotation id appears twice"),
    "iscrowd_invalid": ("bad_fields", r"annotation 7 \(image 1\): has iscrowd 2"),
}
BAD_IMAGES = {
    "image_zero_width": r"image 2: has invalid width 0 \(need a positive integer\)",
    "image_missing_height": r"image 2: has invalid height None",
}
BAD_CATEGORIES = {
    "categories_48": r"categories_48.json: the json has 48 categories, Fashionpedia 2020 has 46",
    "categories_swapped_names": r"category id 31 is named 'pocket' in the json but 'sleeve'",
}


def _case(name: str, tmp_path: Path) -> Path:
    """The malformed file, with Fashionpedia's categories added where it has none (keeps the files short)."""
    if name.startswith("categories_") or name == "not_json":
        return MALFORMED / f"{name}.json"
    data = json.loads(
        (MALFORMED / f"{name}.json").read_text()
    )  # Python's json reads the NaN / Infinity literals some writers produce
    data.setdefault("categories", CATEGORIES)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", sorted(BAD_ANNOTATIONS))
def test_bad_annotation_strict_error_names_it(name, tmp_path):
    with pytest.raises(AnnotationError, match=BAD_ANNOTATIONS[name][1]):
        FashionpediaSplit(_case(name, tmp_path), tmp_path)


@pytest.mark.parametrize("name", sorted(BAD_ANNOTATIONS))
def test_bad_annotation_lenient_is_a_counted_skip(name, tmp_path):
    split = FashionpediaSplit(_case(name, tmp_path), tmp_path, strict=False)
    reason = BAD_ANNOTATIONS[name][0]
    assert split.skipped == {reason: 1}
    assert split.skipped_ids == {reason: [1 if name == "duplicate_annotation_id" else 7]}
    assert [inst.ann_id for inst in split.instances(1)] == [1]  # the good annotation survives
    labels = split.semantic_map(1)
    assert labels.shape == (4, 4) and (labels[:3, :3] == 11).all() and labels.sum() == 9 * 11  # dress


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_bad_image_entry(name, tmp_path):
    with pytest.raises(AnnotationError, match=BAD_IMAGES[name]):
        FashionpediaSplit(_case(name, tmp_path), tmp_path)
    split = FashionpediaSplit(_case(name, tmp_path), tmp_path, strict=False)
    # the image is dropped, and its annotation then has no image
    assert split.skipped == {"bad_image": 1, "missing_image": 1}
    assert split.skipped_ids == {"bad_image": [2], "missing_image": [7]}
    assert split.image_ids == [1]


@pytest.mark.parametrize("name", sorted(BAD_CATEGORIES))
def test_foreign_category_list_is_refused_even_when_lenient(name, tmp_path):
    for strict in (True, False):
        with pytest.raises(AnnotationError, match=BAD_CATEGORIES[name]):
            FashionpediaSplit(_case(name, tmp_path), tmp_path, strict=strict)


def test_unreadable_files(tmp_path):
    with pytest.raises(AnnotationError, match="not valid JSON"):
        FashionpediaSplit(MALFORMED / "not_json.json", tmp_path)
    with pytest.raises(AnnotationError, match="not found"):
        FashionpediaSplit(tmp_path / "absent.json", tmp_path)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(AnnotationError, match="not a COCO instances file"):
        FashionpediaSplit(tmp_path / "list.json", tmp_path)


def test_every_malformed_case_runs_without_crashing_the_process(tmp_path):
    """pycocotools alone gets killed on NaN polygons; through FashionpediaSplit every case ends cleanly."""
    paths = [str(_case(p.stem, tmp_path)) for p in sorted(MALFORMED.glob("*.json"))]
    script = textwrap.dedent(
        """
        import sys
        from fashiondemo.fashionpedia import AnnotationError, FashionpediaSplit
        for path in sys.argv[1:]:
            for strict in (True, False):
                try:
                    split = FashionpediaSplit(path, ".", strict=strict)
                    maps = [split.semantic_map(i) for i in split.image_ids]
                    print("ok", path, dict(split.skipped), len(maps))
                except AnnotationError as exc:
                    print("refused", path, exc)
        print("finished")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "finished"
    assert len(result.stdout.splitlines()) == 2 * len(paths) + 1


# A hand-made 8x6 image. JSON order is deliberately not the paint order.
GOLDEN_ANNOTATIONS = [
    (1, 31, [[1, 0, 3, 0, 3, 3, 1, 3]], 0),  # sleeve x1-2 y0-2 (part, area 6)
    (2, 33, [[2, 0, 5, 0, 5, 1, 2, 1]], 0),  # neckline x2-4 y0 (part, area 3: over the sleeve)
    (3, 19, [[0, 3, 8, 3, 8, 4, 0, 4]], 0),  # belt row 3 (garment, area 8: over the dress)
    (4, 10, [[1, 0, 7, 0, 7, 6, 1, 6]], 0),  # dress x1-6 (garment, area 36)
    (5, 44, {"counts": [40, 2, 4, 2], "size": [6, 8]}, 1),  # crowd sequins x6-7 y4-5, uncompressed RLE
    (6, 32, {"counts": "l01508", "size": [6, 8]}, 0),  # pocket x4-5 y4, compressed RLE (part, area 2)
]
# fmt: off
GOLDEN_MAP = np.array([
    [0,  32, 34, 34, 34, 11, 11,   0],
    [0,  32, 32, 11, 11, 11, 11,   0],
    [0,  32, 32, 11, 11, 11, 11,   0],
    [20, 20, 20, 20, 20, 20, 20,  20],
    [0,  11, 11, 11, 33, 33, 11, 255],  # crowd: ignored only where no instance covers it (x7)
    [0,  11, 11, 11, 11, 11, 11, 255],
], dtype=np.uint8)
# fmt: on


@pytest.fixture()
def golden(tmp_path) -> FashionpediaSplit:
    anns = [
        {
            "id": i,
            "image_id": 5,
            "category_id": c,
            "segmentation": s,
            "iscrowd": crowd,
            "attribute_ids": [115],
        }
        for i, c, s, crowd in GOLDEN_ANNOTATIONS
    ]
    data = {"images": [{"id": 5, "width": 8, "height": 6, "file_name": "g.png"}], "annotations": anns}
    data["categories"] = CATEGORIES
    (tmp_path / "golden.json").write_text(json.dumps(data))
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "g.png")
    return FashionpediaSplit(tmp_path / "golden.json", tmp_path)


def test_golden_semantic_map(golden):
    labels = golden.semantic_map(5)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, GOLDEN_MAP)
    assert [inst.ann_id for inst in paint_order(golden.instances(5))] == [4, 3, 1, 2, 6]
    assert IGNORE_INDEX == 255


def test_instances_fields(golden):
    instances = {inst.ann_id: inst for inst in golden.instances(5)}
    pocket, crowd = instances[6], instances[5]
    assert (pocket.category_id, pocket.label, pocket.name, pocket.area, pocket.iscrowd) == (
        32,
        33,
        "pocket",
        2,
        False,
    )
    assert pocket.mask.shape == (6, 8) and pocket.mask.dtype == bool
    assert pocket.bbox == (4.0, 4.0, 2.0, 1.0)  # computed from the mask when the json has no bbox
    assert crowd.iscrowd and crowd.area == 4 and crowd.attribute_ids == (115,)
    assert instances[4].area == 36 and instances[4].name == "dress"
    assert golden.load_image(5).shape == (6, 8, 3)


def test_compressed_rle_decoder_agrees_with_pycocotools():
    rng = np.random.default_rng(0)
    for shape in ((6, 8), (31, 17), (1, 1), (200, 3)):
        for density in (0.02, 0.5, 0.97):
            mask = (rng.random(shape) < density).astype(np.uint8)
            rle = mask_utils.encode(np.asfortranarray(mask))
            runs = decode_compressed_counts(rle["counts"].decode())
            flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
            assert np.array_equal(flat.reshape(shape[::-1]).T, mask)


def test_instance_masks_agree_with_pycocotools_and_an_independent_rle_decode(synthetic_dataset):
    split = FashionpediaSplit(
        synthetic_dataset / "instances_attributes_train2020.json", synthetic_dataset / "train"
    )
    checked = 0
    for image_id in split.image_ids:
        info = split.image_info(image_id)
        for inst in split.instances(image_id):
            ann = split.coco.anns[inst.ann_id]
            with quiet_pycocotools():
                assert np.array_equal(inst.mask, split.coco.annToMask(ann).astype(bool))
            counts = ann["segmentation"]["counts"] if isinstance(ann["segmentation"], dict) else None
            if counts is not None:
                runs = decode_compressed_counts(counts) if isinstance(counts, str) else counts
                flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
                assert np.array_equal(flat.reshape(info["width"], info["height"]).T, inst.mask)
                checked += 1
    assert checked >= 5


def test_load_image_checks_the_json_size(synthetic_dataset, tmp_path):
    data = json.loads((synthetic_dataset / "instances_attributes_train2020.json").read_text())
    wrong, right = data["images"][:2]
    wrong["width"] += 1
    # drop its RLE annotations: their own size field would (rightly) be refused first
    data["annotations"] = [
        a for a in data["annotations"] if a["image_id"] != wrong["id"] or isinstance(a["segmentation"], list)
    ]
    (tmp_path / "wrong.json").write_text(json.dumps(data))
    split = FashionpediaSplit(tmp_path / "wrong.json", synthetic_dataset / "train")
    with pytest.raises(ImageLoadError, match=r"decoded size \d+x\d+ .* does not match the annotation's"):
        split.load_image(wrong["id"])
    assert split.load_image(right["id"]).shape[:2] == split.semantic_map(right["id"]).shape
    assert split.image_id_of(right["file_name"]) == right["id"]


def test_huge_coordinates_are_refused(tmp_path):
    data = json.loads((MALFORMED / "polygon_nan.json").read_text())
    data["annotations"][1]["segmentation"] = [[1e308, 0, 1e308, 1, 0, 1]]  # finite, but sums to inf
    data["categories"] = CATEGORIES
    (tmp_path / "huge.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"annotation 7 .* coordinates far too large"):
        FashionpediaSplit(tmp_path / "huge.json", tmp_path)
