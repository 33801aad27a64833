"""Batch review for the qualitative side-by-side study: N dataset images into one static HTML page.

    python -m fashiondemo.review --ann JSON --images DIR --n 50 --out DIR [--seed 0] [--random-weights]
        [--ocrnet-checkpoint REF] [--ocrnet-infer-size 1024] [--sam-variant vit_b] [--sam-checkpoint REF]
        [--sam-precision auto] [--device cpu] [--no-download]

Per image: the photo, OCRNet's overlay, SAM prompted with every GT instance's box (oracle mode) and the GT
overlay, with OCRNet vs GT mIoU/mAcc/aAcc of that image and SAM's mean IoU over the GT instances. The same
code as the app: image + GT from `sources.record_from_split`, models from `services.ModelHub`, pictures and
numbers from `compare`. N images are drawn at random (``--seed``) from the json, all of them when N >= its
size.

Writes OUT/review.html (worst OCRNet mIoU first; click a header to re-sort), OUT/images/<id>_<panel>.jpg,
OUT/labels/<id>_ocrnet.png (OCRNet's label map, lossless), OUT/review.csv and OUT/review.json; every file
atomically, the page last. Exit status: 0 complete; 3 page written but incomplete (a model unavailable or an
image unreadable: the page and the printed summary say why); 1 unusable input.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from fashiondemo import compare
from fashiondemo import masks as mk
from fashiondemo.digests import atomic_write_bytes, atomic_write_text
from fashiondemo.fashionpedia import AnnotationError, FashionpediaSplit
from fashiondemo.images import ImageLoadError
from fashiondemo.metrics import ConfusionMatrix
from fashiondemo.model_flags import add_model_arguments, config_from_args
from fashiondemo.review_html import ModelNote, ReviewPage, ReviewRow, render_page
from fashiondemo.services import READY, ModelHub, ModelSlot, ModelUnavailable
from fashiondemo.sources import record_from_split

EXIT_OK, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 3
JPEG_QUALITY = 90
CSV_HEADER = (
    "image_id",
    "file_name",
    "ocrnet_miou",
    "ocrnet_macc",
    "ocrnet_aacc",
    "sam_oracle_mean_iou",
    "n_instances",
)


class ReviewInputError(ValueError):
    """The annotations, the image folder or the options cannot be used; the message says which and why."""


class OnceModel:
    """A hub slot tried once per run: after the first ModelUnavailable every image shows its reason, instead
    of re-trying an absent or broken file for each of 50 images (the app retries; a batch need not)."""

    def __init__(self, slot: ModelSlot):
        self.slot = slot
        self.reason: str | None = None

    def get(self):
        """The model, or None when it is unavailable (``reason`` then says why)."""
        if self.reason is not None:
            return None
        try:
            return self.slot.get()
        except ModelUnavailable as exc:
            self.reason = str(exc)
            return None


def short_reason(reason: str) -> str:
    """A model's reason for one panel: its first line; the full text (how to fix it) is at the page's top."""
    first, _, rest = reason.strip().partition("\n")
    return f"{first} (what to do: see the model status at the top)" if rest.strip() else first


def choose_images(split: FashionpediaSplit, n: int, seed: int) -> list[int]:
    """``n`` image ids drawn at random with ``seed`` (all ids when n >= the split size), in id order."""
    if n < 1:
        raise ReviewInputError(f"--n must be at least 1, got {n}")
    ids = sorted(split.image_ids)
    if not ids:
        raise ReviewInputError(f"{split.ann_path} lists no usable images")
    return ids if n >= len(ids) else sorted(random.Random(seed).sample(ids, n))


def _encode(array: np.ndarray, fmt: str) -> bytes:
    """HxWx3 uint8 RGB -> JPEG (panels: small files, viewing only); HxW uint8 labels -> PNG (lossless)."""
    from PIL import Image

    buffer = io.BytesIO()
    extra = {"quality": JPEG_QUALITY} if fmt == "JPEG" else {}
    Image.fromarray(array).save(buffer, format=fmt, **extra)
    return buffer.getvalue()


def _save_panel(out: Path, row: ReviewRow, kind: str, rgb: np.ndarray) -> None:
    name = f"images/{row.image_id}_{kind}.jpg"
    atomic_write_bytes(out / name, _encode(rgb, "JPEG"))
    row.panels[kind] = name


def sam_oracle_picture(rgb: np.ndarray, study: compare.BoxStudy, random_weights: bool) -> np.ndarray:
    """SAM's masks from the GT-box study over the photo, every prompt box drawn, stamped if random."""
    picture = compare.sam_panel(rgb, study.masks() if study.rows else None)
    for prompt in study.rows:
        picture = mk.draw_prompts(picture, box=prompt.box)
    return compare.stamp_banner(picture) if random_weights else picture


def review_image(
    split: FashionpediaSplit,
    image_id: int,
    ocrnet: OnceModel,
    sam: OnceModel,
    hub: ModelHub,
    out: Path,
    confusion: ConfusionMatrix,
) -> ReviewRow:
    """All four panels (written under ``out/images``) and the numbers of one image."""
    info = split.image_info(image_id)
    row = ReviewRow(int(image_id), str(info["file_name"]), int(info["width"]), int(info["height"]))
    try:
        record = record_from_split(split, image_id, split.ann_path.name)
    # One unreadable file (missing, truncated, wrong size: ImageLoadError) costs one row, not the whole batch.
    except (ImageLoadError, OSError, KeyError) as exc:
        row.error = f"cannot read this image: {exc}"
        return row
    rgb, gt = record.rgb, record.gt
    row.n_instances = sum(1 for inst in gt.solid_instances if inst.mask.any())
    _save_panel(out, row, "photo", rgb)
    gt_picture, row.gt_legend = compare.gt_panel(rgb, gt)
    _save_panel(out, row, "gt", gt_picture)

    model = ocrnet.get()
    if model is None:
        row.notes["ocrnet"] = short_reason(ocrnet.reason)
    else:
        label_map = model.predict(rgb)
        atomic_write_bytes(out / "labels" / f"{row.image_id}_ocrnet.png", _encode(label_map, "PNG"))
        picture, row.ocrnet_legend = compare.ocrnet_panel(rgb, label_map, random_weights=hub.random_weights)
        _save_panel(out, row, "ocrnet", picture)
        row.ocrnet = compare.ocrnet_vs_gt(label_map, gt)
        confusion.update(label_map, gt.label_map)

    segmenter = sam.get()
    if segmenter is None:
        row.notes["sam"] = short_reason(sam.reason)
    else:
        study = compare.prompt_with_gt_boxes(segmenter, rgb, gt)
        _save_panel(out, row, "sam", sam_oracle_picture(rgb, study, hub.random_weights))
        row.sam_mean_iou = 100 * study.mean_iou
        row.sam_table = study.table()
        if not study.rows:
            row.notes["sam"] = "no GT instance to prompt with"
    return row


def worst_first(rows: list[ReviewRow]) -> list[ReviewRow]:
    """Ascending OCRNet mIoU; rows without one (no model, no pixels, unreadable) last; ties by image id."""
    return sorted(rows, key=lambda r: (math.isnan(r.miou), 0.0 if math.isnan(r.miou) else r.miou, r.image_id))


def _plain(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def write_csv(path: Path, rows: list[ReviewRow]) -> None:
    """One line per image, in page order; empty cells where a value is undefined or the model did not run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        values = (r.miou, r.macc, r.aacc, math.nan if r.sam_mean_iou is None else r.sam_mean_iou)
        writer.writerow(
            [
                r.image_id,
                r.file_name,
                *("" if _plain(v) is None else _plain(v) for v in values),
                r.n_instances,
            ]
        )
    atomic_write_text(path, buffer.getvalue())


def _row_json(r: ReviewRow) -> dict:
    ocrnet = None
    if r.ocrnet is not None:
        per_class = [
            {"label": c.label, "class": c.name, "IoU": _plain(c.iou), "Acc": _plain(c.acc)}
            for c in r.ocrnet.rows
        ]
        ocrnet = {
            "mIoU": _plain(r.miou),
            "mAcc": _plain(r.macc),
            "aAcc": _plain(r.aacc),
            "per_class": per_class,
        }
    sam = None
    if r.sam_mean_iou is not None:
        prompts = [{"prompt": s, "box_xyxy": b, "score": sc, "IoU": iou} for s, b, sc, iou in r.sam_table]
        sam = {"mean_IoU": _plain(r.sam_mean_iou), "prompts": prompts}
    fields = ("image_id", "file_name", "width", "height", "n_instances", "panels", "notes", "error")
    return {**{name: getattr(r, name) for name in fields}, "ocrnet": ocrnet, "sam_oracle": sam}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fashiondemo.review", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--ann", required=True, type=Path, help="Fashionpedia-format json (e.g. the val json)"
    )
    parser.add_argument("--images", required=True, type=Path, help="folder with the json's images")
    parser.add_argument("--out", required=True, type=Path, help="output folder (review.html and friends)")
    parser.add_argument("--n", type=int, default=50, help="images to review (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="which N images are drawn (default 0)")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    args.config = config_from_args(parser, args)
    return args


def _set_torch_threads() -> int:
    # Deliberate, once, before either model runs: the settings' count, else the CPUs this process may use.
    import torch

    from fashiondemo.settings import from_env

    threads = from_env().torch_threads
    if not threads:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def open_split(args: argparse.Namespace) -> tuple[FashionpediaSplit, list[int]]:
    """The json (lenient: malformed annotations are skipped and counted, as the app's browser does) and the
    ids to review."""
    if not args.images.is_dir():
        raise ReviewInputError(f"--images {args.images} is not a folder")
    try:
        split = FashionpediaSplit(args.ann, args.images, strict=False)
    except AnnotationError as exc:
        raise ReviewInputError(str(exc)) from exc
    return split, choose_images(split, args.n, args.seed)


def review_all(
    split, ids: list[int], hub: ModelHub, out: Path
) -> tuple[list[ReviewRow], list[ModelNote], dict]:
    """Rows worst first, each model's final state, and run facts (split-wide OCRNet scores, timing...)."""
    from tqdm import tqdm

    ocrnet, sam = OnceModel(hub.ocrnet), OnceModel(hub.sam)
    for folder in ("images", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    threads = _set_torch_threads()
    confusion, rows, start = ConfusionMatrix(), [], time.perf_counter()
    progress = tqdm(ids, desc="review", unit="img")
    for image_id in progress:
        row = review_image(split, image_id, ocrnet, sam, hub, out, confusion)
        rows.append(row)
        progress.set_postfix(id=str(image_id), mIoU="-" if math.isnan(row.miou) else f"{row.miou:.1f}")
    models = [
        ModelNote(slot.name, slot.status, slot.message if once.reason is None else once.reason)
        for slot, once in ((hub.ocrnet, ocrnet), (hub.sam, sam))
    ]
    loaded = hub.ocrnet.loaded or hub.sam.loaded
    stats = {
        "seconds": time.perf_counter() - start,
        "threads": threads,
        "device": loaded.device if loaded is not None else "none (no model ran)",
        "ocrnet_over_images": confusion.summary() if confusion.labelled_pixels else None,
        "sam_ious": [iou for r in rows for *_, iou in r.sam_table if iou is not None],
    }
    return worst_first(rows), models, stats


def summary_facts(args, argv: list[str], split, rows: list[ReviewRow], stats: dict) -> list[tuple[str, str]]:
    """The (label, value) lines at the top of the page, in review.json and (the scores) on stdout."""
    scores, sam_ious = stats["ocrnet_over_images"], stats["sam_ious"]
    ocrnet_text = "not run"
    if scores is not None:
        ocrnet_text = "mIoU {mIoU:.2f} · mAcc {mAcc:.2f} · aAcc {aAcc:.2f} (one confusion matrix)".format(
            **scores
        )
    sam_text = f"mean IoU {np.mean(sam_ious):.2f}% over {len(sam_ious)} GT boxes" if sam_ious else "not run"
    command = shlex.join(["python", "-m", "fashiondemo.review", *argv])
    facts = [
        ("annotations", str(args.ann)),
        ("images", f"{len(rows)} of {len(split)} (seed {args.seed}) from {args.images}"),
        ("OCRNet over these images", ocrnet_text),
        ("SAM oracle over all GT boxes", sam_text),
        ("run", f"{stats['seconds']:.1f} s on {stats['device']}, {stats['threads']} torch threads"),
        ("command", command),
    ]
    if split.skipped:
        facts.append(
            ("skipped annotations", ", ".join(f"{k}: {v}" for k, v in sorted(split.skipped.items())))
        )
    unreadable = [str(r.image_id) for r in rows if r.error]
    if unreadable:
        facts.append(("unreadable images", f"{len(unreadable)}: {', '.join(unreadable)}"))
    return facts


def write_outputs(out: Path, page: ReviewPage, stats: dict) -> None:
    """review.csv, review.json, then review.html (panels are already on disk), each atomically."""
    write_csv(out / "review.csv", page.rows)
    document = {
        "format": "fashiondemo-review/1",
        "random_weights": page.random_weights,
        "facts": dict(page.facts),
        "models": [{"name": m.name, "status": m.status, "message": m.message} for m in page.models],
        "ocrnet_over_images": stats["ocrnet_over_images"],
        "images": [_row_json(r) for r in page.rows],
    }
    atomic_write_text(out / "review.json", json.dumps(document, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out / "review.html", render_page(page))


def run(args: argparse.Namespace, argv: list[str]) -> tuple[int, list[str]]:
    """Review the images and write the files; returns the exit status and the summary lines to print."""
    split, ids = open_split(args)
    config = args.config
    hub = ModelHub(config)
    rows, models, stats = review_all(split, ids, hub, args.out)
    facts = summary_facts(args, argv, split, rows, stats)
    title = f"fashiondemo review: {len(rows)} images of {args.ann.name}"
    page = ReviewPage(title, rows, models, facts, random_weights=config.random_weights)
    write_outputs(args.out, page, stats)

    lines = [f"wrote {args.out / 'review.html'} ({len(rows)} images), review.csv, review.json"]
    lines += [f"{label}: {value}" for label, value in facts[2:5]]
    missing = [m for m in models if m.status != READY]
    lines += [f"{m.name} UNAVAILABLE ({m.status}): {m.message}" for m in missing]
    unreadable = sum(1 for r in rows if r.error)
    if unreadable:
        lines.append(f"{unreadable} image(s) could not be read: see their rows in the page")
    if config.random_weights:
        lines.append(compare.RANDOM_WEIGHTS_BANNER)
    return (EXIT_INCOMPLETE if missing or unreadable else EXIT_OK), lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        status, lines = run(args, argv)
    except ReviewInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
