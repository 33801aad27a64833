"""Convert a Fashionpedia split into the image + label-PNG pairs mmsegmentation reads.

    python -m fashiondemo.prepare --ann JSON --images DIR --out OUT [--split NAME] [--max-side 1024]
                                  [--workers N] [--lenient] [--force]

writes ``OUT/img_dir/{split}/{stem}.jpg`` (RGB, EXIF orientation applied, so it aligns with its label) and
``OUT/ann_dir/{split}/{stem}.png`` (uint8 labels 0..46, 255 ignore; fashionpedia.semantic_map). The long side
is capped at --max-side as in the report (images: area interpolation; labels: nearest: no new label values).

Idempotent and interruption-safe: each file is written to a hidden temp file and renamed; the image goes first
and the label last, so a pair counts as done only when its label exists (an image without a label is redone).
Leftover temp files from a killed run are removed at the start. --force redoes every pair (e.g. after changing
--max-side, which is not recorded).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import multiprocessing
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.fashionpedia_validate import AnnotationError

TEMP_MARK = ".partial-"
JPEG_QUALITY = 95

# Set in each worker process by _init_worker: where the json and images are, and the strictness.
_WORKER_SOURCE: tuple[str, str, bool] | None = None


@dataclass
class PrepareSummary:
    split: str
    written: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # file name -> why
    skipped_annotations: dict[str, int] = field(default_factory=dict)  # lenient mode: reason -> count

    def line(self) -> str:
        text = (
            f"prepare {self.split}: {self.written} written, {self.skipped} already done, "
            f"{len(self.failed)} failed"
        )
        if self.skipped_annotations:
            text += f"; annotations skipped (lenient): {dict(self.skipped_annotations)}"
        return text


def split_from_name(ann_path: str | os.PathLike) -> str:
    """'instances_attributes_val2020.json' -> 'val' (train/val/test); ValueError if the name does not say."""
    match = re.search(r"(train|val|test)(?:20\d\d)?\.json$", Path(ann_path).name)
    if not match:
        raise ValueError(f"cannot tell the split from the file name {Path(ann_path).name!r}; pass --split")
    return match.group(1)


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) with the long side capped at max_side (0 = no cap), aspect kept, each side >= 1."""
    if max_side <= 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def pair_paths(out: Path, split: str, stem: str) -> tuple[Path, Path]:
    return out / "img_dir" / split / f"{stem}.jpg", out / "ann_dir" / split / f"{stem}.png"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{TEMP_MARK}{os.getpid()}-{path.name}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(array).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        Image.fromarray(array).save(buffer, format="PNG", compress_level=6)  # uint8 HxW -> mode L
    return buffer.getvalue()


def convert_pair(split: FashionpediaSplit, image_id: int, out: Path, split_name: str, max_side: int) -> None:
    """Write one image + label pair (image first, label last, each atomically)."""
    import cv2

    stem = Path(split.image_info(image_id)["file_name"]).stem
    image_path, label_path = pair_paths(out, split_name, stem)
    rgb = split.load_image(image_id)
    labels = split.semantic_map(image_id)
    size = output_size(rgb.shape[1], rgb.shape[0], max_side)
    if size != (rgb.shape[1], rgb.shape[0]):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    _write_atomic(image_path, _encode(rgb, "JPEG"))
    _write_atomic(label_path, _encode(labels, "PNG"))


def _init_worker(ann_path: str, image_dir: str, strict: bool) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe
    global _WORKER_SOURCE
    _WORKER_SOURCE = (ann_path, image_dir, strict)


def _work(task: tuple[dict, str, str, int]) -> tuple[int, str | None]:
    """Convert one image in a worker, from its part of the json (sent with the task; see prepare_split)."""
    raw, out, split_name, max_side = task
    ann_path, image_dir, strict = _WORKER_SOURCE
    image_id = raw["images"][0]["id"]

    def convert() -> None:
        split = FashionpediaSplit(ann_path, image_dir, strict=strict, raw=raw)
        convert_pair(split, image_id, Path(out), split_name, max_side)

    return _attempt(image_id, convert)


def _attempt(image_id: int, convert: Callable[[], None]) -> tuple[int, str | None]:
    """(image_id, None) when `convert` succeeds, (image_id, message) when the image fails on its own: the
    errors that mean one bad image, not a broken run."""
    try:
        convert()
        return image_id, None
    except (ValueError, OSError) as exc:  # ImageLoadError and AnnotationError are ValueErrors
        return image_id, str(exc)


def _remove_leftovers(folders: list[Path]) -> int:
    removed = 0
    for folder in folders:
        for tmp in folder.glob(f"{TEMP_MARK}*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def prepare_split(
    ann_path: str | os.PathLike,
    image_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str | None = None,
    max_side: int = 1024,
    workers: int = 1,
    strict: bool = True,
    force: bool = False,
    progress: bool = False,
) -> PrepareSummary:
    """Convert one split; returns the counts. Per-image failures go to summary.failed."""
    split_name = split or split_from_name(ann_path)
    out = Path(out)
    folders = [out / "img_dir" / split_name, out / "ann_dir" / split_name]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folders)
    data = FashionpediaSplit(ann_path, image_dir, strict=strict)
    summary = PrepareSummary(split_name, skipped_annotations=dict(data.skipped))
    stems = [Path(data.image_info(i)["file_name"]).stem for i in data.image_ids]
    if len(set(stems)) != len(stems):
        raise AnnotationError(
            f"{Path(ann_path).name}: two images share a file name stem; outputs would collide"
        )
    todo = []
    for image_id, stem in zip(data.image_ids, stems, strict=True):
        image_path, label_path = pair_paths(out, split_name, stem)
        if not force and image_path.exists() and label_path.exists():
            summary.skipped += 1
        else:
            todo.append(image_id)
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(
            tqdm(total=len(todo), desc=f"prepare {split_name}", unit="img", disable=not progress)
        )
        if workers <= 1 or len(todo) <= 1:
            results = (
                _attempt(i, functools.partial(convert_pair, data, i, out, split_name, max_side)) for i in todo
            )
        else:
            # Workers are spawned, not forked: a fork of a process whose OpenCV/OpenMP thread pools are
            # running (any caller that already ran a model or resized an image) can deadlock in the child.
            # Each task carries its image's part of the json, so no worker re-reads a 542 MB train json.
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(str(ann_path), str(image_dir), strict),
                )
            )
            tasks = ((data.raw_part(i), str(out), split_name, max_side) for i in todo)
            results = pool.map(_work, tasks, chunksize=max(1, min(16, len(todo) // (4 * workers))))
        for image_id, error in results:
            if error is None:
                summary.written += 1
            else:
                summary.failed[data.image_info(image_id)["file_name"]] = error
            bar.update(1)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashiondemo.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--ann", required=True, type=Path, help="instances_attributes_{train,val}2020.json")
    parser.add_argument("--images", required=True, type=Path, help="folder of the json's images")
    parser.add_argument("--out", required=True, type=Path, help="output root (img_dir/, ann_dir/)")
    parser.add_argument("--split", default=None, help="output split name (default: from the json's name)")
    parser.add_argument("--max-side", type=int, default=1024, help="cap on the long side; 0 = keep full size")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="worker processes")
    parser.add_argument(
        "--lenient", action="store_true", help="skip (and count) bad annotations instead of failing"
    )
    parser.add_argument("--force", action="store_true", help="redo pairs that already exist")
    args = parser.parse_args(argv)
    try:
        summary = prepare_split(
            args.ann,
            args.images,
            args.out,
            split=args.split,
            max_side=args.max_side,
            workers=args.workers,
            strict=not args.lenient,
            force=args.force,
            progress=True,
        )
    except (AnnotationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, why in list(summary.failed.items())[:20]:
        print(f"failed: {name}: {why}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
