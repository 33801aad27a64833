"""Issue 2's malformed annotation files through the app's Fashionpedia browser (`--fashionpedia-root`).

The browser reads the json leniently: a malformed annotation is skipped and counted, a malformed image
entry dropped. Through the API (`source="fashionpedia:<id>"`) every image then either loads with the sound
annotations, saying how many were skipped, or is refused with a message naming the problem; a json that is
not Fashionpedia's at all (48 categories, not JSON, absent) is refused on every request, never a crash.
After each case the server still answers.

All of issue 2's per-annotation cases go into ONE val json (ids shifted per case), so one app process serves
them all, as the real val json would with several bad entries. The fatal cases share a second app: the browser
keeps only a split that loaded, so the json can be swapped between requests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiondemo.classes import FASHIONPEDIA_CATEGORIES
from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.sources import SYNTHETIC_EXAMPLES, VAL_IMAGES, VAL_JSON

pytestmark = pytest.mark.slow
MALFORMED = Path(__file__).parent / "data" / "malformed"
CATEGORIES = [{"id": i, "name": n, "supercategory": s} for i, (n, s) in enumerate(FASHIONPEDIA_CATEGORIES)]
FATAL = {
    "categories_48": r"val2020\.json: the json has 48 categories, Fashionpedia 2020 has 46",
    "not_json": r"instances_attributes_val2020\.json is not valid JSON",
    "no_json": r"annotation file .*instances_attributes_val2020\.json not found",
}
DRESS = 11  # label of the one good annotation in every malformed file (category 10, a 3x3 square)
# Per-annotation cases whose bad annotation belongs to the good image (image 1): the image must say so.
SKIPPED_ON_IMAGE_1 = {
    "duplicate_annotation_id",
    "iscrowd_invalid",
    "polygon_empty",
    "polygon_four_numbers",
    "polygon_infinity",
    "polygon_nan",
    "polygon_odd_length",
    "polygon_strings",
    "rle_compressed_corrupt",
    "rle_compressed_wrong_sum",
    "rle_negative_run",
    "rle_short_counts",
    "rle_size_mismatch",
    "segmentation_empty",
    "unknown_category",
}
BAD_IMAGE_ENTRIES = {"image_missing_height", "image_zero_width"}  # their image 2 is dropped
EXIF_ID, ABSENT_FILE_ID, WRONG_SIZE_ID = 90001, 90002, 90003


def _case_names() -> list[str]:
    return sorted(
        p.stem for p in MALFORMED.glob("*.json") if p.stem not in FATAL and "categories" not in p.stem
    )


def _offset(case: str) -> int:
    return 1000 * (_case_names().index(case) + 1)


def _write_png(path: Path, width: int, height: int) -> None:
    Image.new("RGB", (width, height), (200, 180, 160)).save(path)


def _merged_root(root: Path) -> Path:
    """One Fashionpedia-format root holding every per-annotation case (image and annotation ids shifted by
    1000 per case, so case k's image 1 is k*1000 + 1), plus three image-file cases: an EXIF-rotated synthetic
    image whose json gives the displayed size, an entry whose file is absent, one whose file has another size.
    """
    images_dir = root / VAL_IMAGES
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for case in _case_names():
        # Python's json reads the NaN / Infinity literals of the polygon cases (and writes them back).
        data = json.loads((MALFORMED / f"{case}.json").read_text())
        base = _offset(case)
        for image in data["images"]:
            entry = {**image, "id": base + image["id"], "file_name": f"{case}_{image['file_name']}"}
            images.append(entry)
            _write_png(images_dir / entry["file_name"], 4, 4)
        annotations += [
            {**ann, "id": base + ann["id"], "image_id": base + ann["image_id"]} for ann in data["annotations"]
        ]

    source = FashionpediaSplit(SYNTHETIC_EXAMPLES / VAL_JSON, SYNTHETIC_EXAMPLES / "test")
    first = source.image_ids[0]
    info = source.image_info(first)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers turn it 90 degrees clockwise
    sideways = np.ascontiguousarray(np.rot90(source.load_image(first), k=1))
    Image.fromarray(sideways).save(images_dir / "exif6.jpg", quality=95, subsampling=0, exif=exif.tobytes())
    images.append({**info, "id": EXIF_ID, "file_name": "exif6.jpg"})  # width/height: the displayed size
    raw = json.loads((SYNTHETIC_EXAMPLES / VAL_JSON).read_text())
    annotations += [
        {**a, "id": 90_000_000 + a["id"], "image_id": EXIF_ID}
        for a in raw["annotations"]
        if a["image_id"] == first
    ]
    images.append({"id": ABSENT_FILE_ID, "width": 4, "height": 4, "file_name": "absent.png"})
    images.append({"id": WRONG_SIZE_ID, "width": 4, "height": 4, "file_name": "wrong_size.png"})
    _write_png(images_dir / "wrong_size.png", 7, 5)

    doc = {"info": {"description": "malformed cases, merged"}, "images": images, "annotations": annotations}
    (root / VAL_JSON).write_text(json.dumps({**doc, "categories": CATEGORIES}))
    return root


def _app(root: Path, tmp_path_factory):
    from appserver import running_app

    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path_factory.mktemp("no-checkpoints"))}
    # OCRNet at 128 px: these tests look at loading and ground truth, not at its predictions
    args = ("--random-weights", "--no-download", "--sam-variant", "vit_tiny_test")
    return running_app(*args, "--ocrnet-infer-size", "128", "--fashionpedia-root", str(root), env=env)


@pytest.fixture(scope="module")
def merged_root(tmp_path_factory) -> Path:
    return _merged_root(tmp_path_factory.mktemp("fashionpedia-malformed"))


@pytest.fixture(scope="module")
def client(merged_root, tmp_path_factory):
    from gradio_client import Client

    with _app(merged_root, tmp_path_factory) as app:
        yield Client(app.url, verbose=False)


def _compare(client, image_id: int):
    """(GT panel, info) of /compare on one Fashionpedia image, without prompts."""
    _, _, gt_png, info = client.predict(None, f"fashionpedia:{image_id}", "", api_name="/compare")
    return np.asarray(Image.open(gt_png)), info


def _gt_labels(info: dict) -> set[int]:
    """Labels present in the GT: rows with a defined accuracy (a class only predicted has none)."""
    return {row[0] for row in info["metrics"]["rows"] if row[3] is not None}


def _assert_serving(client) -> None:
    _, info = client.predict(None, "synthetic #50001", json.dumps({"points": [[50, 60]]}), api_name="/sam")
    assert info["scores"]


def test_lenient_split_knows_which_images_lost_what(merged_root):
    """What the app's messages are built from, without the app: per-image skip counts and dropped images."""
    split = FashionpediaSplit(merged_root / VAL_JSON, merged_root / VAL_IMAGES, strict=False)
    assert set(split.skipped_by_image) == {_offset(case) + 1 for case in SKIPPED_ON_IMAGE_1}
    assert all(sum(reasons.values()) == 1 for reasons in split.skipped_by_image.values())
    assert split.skipped_note(_offset("polygon_nan") + 1) == (
        "1 malformed annotation skipped (bad_polygon): ground truth incomplete"
    )
    assert split.skipped_note(EXIF_ID) == ""
    assert set(split.skipped_images) == {_offset(case) + 2 for case in BAD_IMAGE_ENTRIES}
    # each bad image entry costs the entry and its annotation; missing_image its annotation
    assert sum(split.skipped.values()) == len(SKIPPED_ON_IMAGE_1) + 2 * len(BAD_IMAGE_ENTRIES) + 1


@pytest.mark.parametrize("case", sorted(SKIPPED_ON_IMAGE_1 | BAD_IMAGE_ENTRIES | {"missing_image"}))
def test_good_annotation_survives_and_skips_are_reported(case, client):
    gt_panel, info = _compare(client, _offset(case) + 1)
    assert gt_panel.shape[:2] == (4, 4)
    assert _gt_labels(info) == {0, DRESS}  # the sound 3x3 dress and background; never the bad annotation
    title = info["image"]
    if case in SKIPPED_ON_IMAGE_1:
        assert "1 malformed annotation skipped" in title and "ground truth incomplete" in title, title
    else:  # the bad annotation belonged to another (dropped or absent) image: nothing missing here
        assert "skipped" not in title, title
    _assert_serving(client)


@pytest.mark.parametrize("case", sorted(BAD_IMAGE_ENTRIES))
def test_malformed_image_entry_is_refused_by_name(case, client):
    from gradio_client.exceptions import AppError

    wanted = _offset(case) + 2
    reason = "height None" if "height" in case else "width 0"
    with pytest.raises(AppError, match=rf"image id {wanted} .*malformed.* invalid {reason}"):
        _compare(client, wanted)
    _assert_serving(client)


def test_unknown_id_and_missing_or_wrong_files(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"image id 424242 is not in Fashionpedia val \(ids \d+\.\.\d+\)"):
        _compare(client, 424242)
    with pytest.raises(AppError, match=r"absent\.png: file not found"):
        _compare(client, ABSENT_FILE_ID)
    with pytest.raises(AppError, match=r"wrong_size\.png: decoded size 7x5 .* annotation's 4x4"):
        _compare(client, WRONG_SIZE_ID)
    with pytest.raises(AppError, match=r"fashionpedia:"):  # not a number
        client.predict(None, "fashionpedia:abc", "", api_name="/compare")
    _assert_serving(client)


def test_exif_rotated_image_is_served_upright_with_aligned_gt(client, merged_root):
    source = FashionpediaSplit(SYNTHETIC_EXAMPLES / VAL_JSON, SYNTHETIC_EXAMPLES / "test")
    first = source.image_ids[0]
    upright, labels = source.load_image(first), source.semantic_map(first)
    _, sam_png, gt_png, info = client.predict(None, f"fashionpedia:{EXIF_ID}", "", api_name="/compare")
    picture = np.asarray(Image.open(sam_png).convert("RGB"))  # the image (banner across the top rows)
    assert picture.shape == upright.shape and np.asarray(Image.open(gt_png)).shape[:2] == labels.shape
    half = upright.shape[0] // 2
    assert np.abs(picture[half:].astype(int) - upright[half:].astype(int)).mean() < 3
    assert _gt_labels(info) == set(np.unique(labels).tolist()) - {255}


def test_a_json_that_is_not_fashionpedia_is_refused_on_every_request(merged_root, tmp_path_factory):
    """One app; its val json goes through each broken state (each refused twice, the server answering in
    between), then becomes a sound one, which the browser then serves without a restart."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    root = tmp_path_factory.mktemp("fatal")
    (root / VAL_IMAGES).mkdir()
    with _app(root, tmp_path_factory) as app:
        client = Client(app.url, verbose=False)
        for case, message in FATAL.items():
            (root / VAL_JSON).unlink(missing_ok=True)
            if case != "no_json":
                (root / VAL_JSON).write_bytes((MALFORMED / f"{case}.json").read_bytes())
            for _ in range(2):
                with pytest.raises(AppError, match=message):
                    client.predict(None, "fashionpedia:1", "", api_name="/sam")
                _assert_serving(client)
        (root / VAL_JSON).write_bytes((merged_root / VAL_JSON).read_bytes())
        (root / VAL_IMAGES / "exif6.jpg").write_bytes((merged_root / VAL_IMAGES / "exif6.jpg").read_bytes())
        # now it loads, and only then asks for prompts
        with pytest.raises(AppError, match="give at least one point or a box"):
            client.predict(None, f"fashionpedia:{EXIF_ID}", "", api_name="/sam")
        assert app.process.poll() is None
