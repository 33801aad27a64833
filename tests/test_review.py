"""Batch review (fashiondemo.review): a real random-weights run on the synthetic split, checked against the
app's own code (compare, sources, SamSegmenter); a run with no weights at all; escaping; the sort script."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiondemo import compare, review
from fashiondemo.classes import CLASS_NAMES
from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.masks import LegendEntry
from fashiondemo.review_html import ModelNote, ReviewPage, ReviewRow, render_page
from fashiondemo.sources import record_from_split

REPO = Path(__file__).resolve().parents[1]
N = 3
SCREENSHOTS = REPO / "test-output" / "review"


class PageParser(HTMLParser):
    """Rows of the review table (id + data-k/data-v cells + panel sources) and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.first_body_class: str | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if self._in_body and self.first_body_class is None:
            self.first_body_class = attrs.get("class", "")
        self._in_body = self._in_body or tag == "body"
        for name in ("src", "href", "action", "srcset", "data"):
            if name in attrs:
                self.urls.append((tag, name, attrs[name]))
        if tag == "tr" and "data-id" in attrs:
            self.rows.append({"id": int(attrs["data-id"]), "cells": {}, "src": []})
        elif self.rows and tag == "td" and "data-k" in attrs:
            self.rows[-1]["cells"][attrs["data-k"]] = attrs["data-v"]
        elif self.rows and tag == "img":
            self.rows[-1]["src"].append(attrs["src"])

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def value(cell: str) -> float:
    return math.nan if cell == "" else float(cell)


def val_split(root: Path) -> FashionpediaSplit:
    return FashionpediaSplit(root / "instances_attributes_val2020.json", root / "test")


@pytest.fixture(scope="module")
def random_run(synthetic_dataset, tmp_path_factory):
    """The CLI in this process: 3 of the 4 synthetic val images, both models with random weights."""
    out = tmp_path_factory.mktemp("review")
    argv = [
        "--ann", str(synthetic_dataset / "instances_attributes_val2020.json"),
        "--images", str(synthetic_dataset / "test"),
        "--n", str(N), "--out", str(out), "--seed", "1",
        "--random-weights", "--sam-variant", "vit_tiny_test", "--ocrnet-infer-size", "512",
    ]  # fmt: skip
    status = review.main(argv)
    return status, out, parse(out / "review.html")


def test_random_run_lists_n_rows_worst_ocrnet_miou_first(random_run, synthetic_dataset):
    status, out, page = random_run
    assert status == review.EXIT_OK
    assert len(page.rows) == N and len({r["id"] for r in page.rows}) == N
    assert {r["id"] for r in page.rows} <= set(val_split(synthetic_dataset).image_ids)
    keys = [(value(r["cells"]["miou"]), r["id"]) for r in page.rows]
    assert not any(math.isnan(m) for m, _ in keys)  # random OCRNet still labels pixels: every mIoU defined
    assert keys == sorted(keys)  # worst mIoU first, ties by image id
    with open(out / "review.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [int(r["image_id"]) for r in lines] == [r["id"] for r in page.rows]
    document = json.loads((out / "review.json").read_text())
    assert [d["image_id"] for d in document["images"]] == [r["id"] for r in page.rows]
    assert document["random_weights"] is True and {m["status"] for m in document["models"]} == {"ready"}


def test_every_panel_file_exists_at_the_image_size(random_run, synthetic_dataset):
    _, out, page = random_run
    split = val_split(synthetic_dataset)
    for row in page.rows:
        info = split.image_info(row["id"])
        assert len(row["src"]) == 4, row  # image, OCRNet, SAM, GT
        for src in row["src"]:
            assert src.startswith("images/") and not Path(src).is_absolute()
            with Image.open(out / src) as image:
                assert image.size == (info["width"], info["height"]), src
    leftovers = [p.name for p in out.rglob(".*.tmp")]
    assert not leftovers, leftovers


def test_page_metrics_equal_compare_on_the_saved_label_maps(random_run, synthetic_dataset):
    """The numbers shown come from the very label map drawn in the OCRNet panel, scored by compare."""
    _, out, page = random_run
    split = val_split(synthetic_dataset)
    document = {d["image_id"]: d for d in json.loads((out / "review.json").read_text())["images"]}
    with open(out / "review.csv", newline="") as f:
        csv_rows = {int(r["image_id"]): r for r in csv.DictReader(f)}
    for row in page.rows:
        record = record_from_split(split, row["id"], "test")
        labels = np.asarray(Image.open(out / "labels" / f"{row['id']}_ocrnet.png"))
        assert labels.shape == record.rgb.shape[:2] and labels.max() < len(CLASS_NAMES)
        expected = compare.ocrnet_vs_gt(labels, record.gt)
        for key, want in (("miou", expected.miou), ("macc", expected.macc), ("aacc", expected.aacc)):
            assert value(row["cells"][key]) == want  # full precision in data-v
            assert float(csv_rows[row["id"]][f"ocrnet_{key}"]) == pytest.approx(want, abs=1e-6)
        assert document[row["id"]]["ocrnet"]["mIoU"] == pytest.approx(expected.miou, abs=1e-6)
        per_class = [(c["label"], c["IoU"]) for c in document[row["id"]]["ocrnet"]["per_class"]]
        assert [lab for lab, _ in per_class] == [r.label for r in expected.rows]
        # the OCRNet panel is that label map drawn by compare (JPEG: close, not identical)
        drawn, _ = compare.ocrnet_panel(record.rgb, labels, random_weights=True)
        saved = np.asarray(Image.open(out / "images" / f"{row['id']}_ocrnet.jpg").convert("RGB"))
        assert np.abs(saved.astype(int) - drawn.astype(int)).mean() < 4


def test_sam_oracle_matches_a_fresh_segmenter(random_run, synthetic_dataset):
    from fashiondemo.sam import SamSegmenter

    page = random_run[2]
    split = val_split(synthetic_dataset)
    row = page.rows[0]
    record = record_from_split(split, row["id"], "test")
    sam = SamSegmenter("vit_tiny_test", random_weights=True).load()
    study = compare.prompt_with_gt_boxes(sam, record.rgb, record.gt)
    assert len(study.rows) > 0
    assert value(row["cells"]["n_instances"]) == len(study.rows)
    assert value(row["cells"]["sam_mean_iou"]) == pytest.approx(100 * study.mean_iou, abs=1e-6)


def test_random_page_is_offline_and_stamped(random_run):
    _, out, page = random_run
    html = (out / "review.html").read_text(encoding="utf-8")
    assert page.first_body_class == "banner" and compare.RANDOM_WEIGHTS_BANNER in html
    assert "http" not in html and "url(" not in html and "@import" not in html
    assert "link" not in page.tags
    assert all(not v.startswith(("/", "data:")) and "://" not in v for _, _, v in page.urls), page.urls
    # every model panel carries compare's red stamp in its top rows; the photo and GT do not
    for kind, stamped in (("ocrnet", True), ("sam", True), ("photo", False), ("gt", False)):
        pixels = np.asarray(Image.open(out / "images" / f"{page.rows[0]['id']}_{kind}.jpg").convert("RGB"))
        red = (pixels[2:6, :, 0] > 150) & (pixels[2:6, :, 1] < 80) & (pixels[2:6, :, 2] < 80)
        assert (red.mean() > 0.5) == stamped, kind


def test_no_weights_page_still_renders_with_the_reasons(synthetic_dataset, tmp_path):
    """A real subprocess with an empty checkpoint dir and downloads off: both columns say why, exit 3."""
    from fashiondemo.ocrnet import DEFAULT_CHECKPOINT_NAME, missing_checkpoint_message

    empty, out = tmp_path / "no-checkpoints", tmp_path / "out"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASHIONDEMO_")}
    env.update(FASHIONDEMO_CHECKPOINT_DIR=str(empty), PYTHONPATH=str(REPO))
    cmd = [
        sys.executable, "-m", "fashiondemo.review", "--no-download", "--n", "2", "--out", str(out),
        "--ann", str(synthetic_dataset / "instances_attributes_val2020.json"),
        "--images", str(synthetic_dataset / "test"),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == review.EXIT_INCOMPLETE, done.stderr[-3000:]
    assert "OCRNet UNAVAILABLE" in done.stdout and "SAM vit_b UNAVAILABLE" in done.stdout
    html = (out / "review.html").read_text(encoding="utf-8")
    assert escape(missing_checkpoint_message(empty / DEFAULT_CHECKPOINT_NAME)) in html
    assert escape(str(empty / "sam_vit_b_01ec64.pth")) in html
    assert compare.RANDOM_WEIGHTS_BANNER not in html
    page = parse(out / "review.html")
    assert [r["id"] for r in page.rows] == sorted(r["id"] for r in page.rows)  # no mIoU: by id
    for row in page.rows:
        assert row["cells"]["miou"] == "" and row["cells"]["sam_mean_iou"] == ""
        assert [Path(s).stem.split("_")[1] for s in row["src"]] == ["photo", "gt"]
    with open(out / "review.csv", newline="") as f:
        assert all(r["ocrnet_miou"] == "" and int(r["n_instances"]) > 0 for r in csv.DictReader(f))
    assert not (out / "labels").exists() or not any((out / "labels").iterdir())


def test_bad_input_is_refused_with_its_reason(synthetic_dataset, tmp_path, capsys):
    ann, images = synthetic_dataset / "instances_attributes_val2020.json", synthetic_dataset / "test"
    base = ["--out", str(tmp_path / "o"), "--random-weights", "--sam-variant", "vit_tiny_test"]
    assert review.main(["--ann", str(tmp_path / "nope.json"), "--images", str(images), *base]) == 1
    assert "nope.json not found" in capsys.readouterr().err
    assert review.main(["--ann", str(ann), "--images", str(tmp_path / "none"), *base]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert review.main(["--ann", str(ann), "--images", str(images), "--n", "0", *base]) == 1
    assert "--n must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        review.main(["--ann", str(ann), "--images", str(images), "--out", str(tmp_path), "--sam-variant",
                     "vit_tiny_test"])  # fmt: skip
    assert exc.value.code == 2 and "add --random-weights" in capsys.readouterr().err


def test_choose_images_is_seeded_and_capped(synthetic_dataset):
    split = val_split(synthetic_dataset)
    assert review.choose_images(split, 3, 5) == review.choose_images(split, 3, 5)
    assert len(set(review.choose_images(split, 3, 5))) == 3
    assert review.choose_images(split, 99, 0) == sorted(split.image_ids)


def _row(image_id: int, miou: float | None, file_name: str = "a.jpg") -> ReviewRow:
    row = ReviewRow(image_id, file_name, 4, 3)
    if miou is not None:
        row.ocrnet = compare.ImageMetrics(rows=(), miou=miou, macc=0.0, aacc=0.0)
    return row


def test_worst_first_puts_undefined_last():
    rows = [_row(1, None), _row(2, 50.0), _row(3, math.nan), _row(4, 5.0), _row(5, 50.0)]
    assert [r.image_id for r in review.worst_first(rows)] == [4, 2, 5, 1, 3]


def test_rendered_rows_keep_the_worst_first_order(tmp_path):
    rows = review.worst_first([_row(1, 30.0), _row(2, math.nan), _row(3, 2.5), _row(4, 70.0)])
    (tmp_path / "page.html").write_text(render_page(ReviewPage("t", rows, [], [])), encoding="utf-8")
    page = parse(tmp_path / "page.html")
    assert [r["id"] for r in page.rows] == [3, 1, 4, 2]
    assert [r["cells"]["miou"] for r in page.rows] == ["2.5", "30.0", "70.0", ""]
    assert [r["cells"]["rank"] for r in page.rows] == ["1", "2", "3", "4"]


def test_render_page_escapes_everything_it_did_not_write():
    evil = '<img src=x onerror="alert(1)">&.jpg'
    row = _row(7, 12.5, evil)
    row.panels = {"photo": "images/7 photo&.jpg", "gt": "images/7_gt.jpg"}
    row.notes = {"ocrnet": "<script>alert(2)</script>"}
    row.gt_legend = [LegendEntry(1, "<b>bold</b>", (1, 2, 3), 0.5)]
    page = ReviewPage(
        "<title>", [row], [ModelNote("SAM <x>", "missing", "no <file> & no way")], [("a<b", "c&d")]
    )
    html = render_page(page)
    for raw in (evil, "<script>alert(2)", "<b>bold</b>", "<title><", "SAM <x>", "no <file>", "a<b"):
        assert raw not in html, raw
    for cooked in (escape(evil), escape("<script>alert(2)</script>"), escape("no <file> & no way")):
        assert cooked in html
    assert 'src="images/7%20photo%26.jpg"' in html


@pytest.mark.browser
def test_sort_script_in_chromium(random_run):
    """Header clicks re-sort the rows; nothing is fetched from the network; every image loads."""
    sys.path.insert(0, str(Path(__file__).parent))
    from browser import chromium, require_chromium

    require_chromium()
    _, out, page = random_run
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    order = "[...document.querySelector('#review tbody').rows].map(r => +r.dataset.id)"
    with chromium() as browser:
        tab = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
        requests = []
        tab.on("request", lambda r: requests.append(r.url))
        tab.goto((out / "review.html").as_uri())
        tab.wait_for_load_state("load")
        assert tab.evaluate(order) == [r["id"] for r in page.rows]
        # panels load lazily (200 of them at N = 50): load them all now, then none may be broken
        tab.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
        tab.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
        assert tab.evaluate("[...document.images].filter(i => i.naturalWidth === 0).length") == 0
        by_sam = sorted(page.rows, key=lambda r: value(r["cells"]["sam_mean_iou"]))
        tab.locator("th[data-col]", has_text="SAM oracle").click()
        assert tab.evaluate(order) == [r["id"] for r in by_sam]
        tab.locator("th[data-col]", has_text="SAM oracle").click()
        assert tab.evaluate(order) == [r["id"] for r in reversed(by_sam)]
        tab.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
    assert all(url.startswith("file://") for url in requests), requests
