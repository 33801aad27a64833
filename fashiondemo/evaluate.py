"""Score OCRNet (or a folder of predictions) on a prepared split and write the report's Table 2.

    python -m fashiondemo.evaluate --checkpoint CKPT --data DIR [--split val] --out DIR [--compare-seed]
    python -m fashiondemo.evaluate --predictions PRED_DIR --data DIR --out DIR      # score saved PNGs
    python -m fashiondemo.evaluate --random-weights --data DIR --out DIR            # pipeline check only

DIR is the prepared layout (``img_dir/{split}/{stem}.jpg`` + ``ann_dir/{split}/{stem}.png``). One confusion
matrix is accumulated over the whole split (mmseg IoUMetric definitions, fashiondemo.metrics), then written as
``table2.{md,csv,json}``, ``per_class_iou.png`` and, with ``--compare-seed``, ``table2_vs_seed.{md,csv}``
beside the course report's numbers. ``--save-predictions DIR`` keeps the label maps as PNGs for later
``--predictions`` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fashiondemo.classes import NUM_CLASSES
from fashiondemo.metrics import ConfusionMatrix
from fashiondemo.report_table import Comparison, Table2, read_seed_table


class EvaluationError(RuntimeError):
    """The split or the predictions cannot be scored; the message names the file."""


def split_pairs(data: Path, split: str) -> list[tuple[str, Path, Path]]:
    """(stem, image path, label path) for every image of a prepared split, sorted by stem."""
    image_dir, label_dir = data / "img_dir" / split, data / "ann_dir" / split
    if not label_dir.is_dir():
        raise EvaluationError(
            f"no labels in {label_dir}: expected the layout of `python -m fashiondemo.prepare` under {data}"
        )
    labels = {p.stem: p for p in label_dir.glob("*.png") if not p.name.startswith(".")}
    images = (
        {p.stem: p for p in image_dir.glob("*.jpg") if not p.name.startswith(".")}
        if image_dir.is_dir()
        else {}
    )
    if not labels:
        raise EvaluationError(f"{label_dir} holds no label PNGs")
    return [(stem, images.get(stem), labels[stem]) for stem in sorted(labels)]


def read_label_png(path: Path, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W) uint8 label map from a PNG; refuses colour images, other sizes, labels outside 0..46/255."""
    from PIL import Image

    if not path.is_file():
        raise EvaluationError(f"missing label map {path}")
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise EvaluationError(f"{path}: expected a single-channel label PNG, got mode {image.mode}")
        labels = np.asarray(image, dtype=np.uint8)
    if expected_shape is not None and labels.shape != expected_shape:
        raise EvaluationError(
            f"{path}: shape {labels.shape} differs from the ground truth's {expected_shape}"
        )
    return labels


def write_label_png(labels: np.ndarray, path: Path) -> None:
    """Save an (H, W) uint8 label map losslessly (atomic)."""
    import os
    import tempfile

    from PIL import Image

    from fashiondemo.digests import default_file_mode

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(labels, mode="L").save(tmp, format="PNG")
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evaluate(pairs, predict, *, save_dir: Path | None = None, progress: bool = True) -> ConfusionMatrix:
    """Accumulate the confusion matrix; ``predict(stem, image_path, gt) -> (H, W) uint8`` gives each map."""
    from tqdm import tqdm

    cm = ConfusionMatrix(NUM_CLASSES)
    for stem, image_path, label_path in tqdm(pairs, desc="evaluate", unit="img", disable=not progress):
        gt = read_label_png(label_path)
        pred = predict(stem, image_path, gt)
        if pred.shape != gt.shape:
            raise EvaluationError(
                f"{stem}: prediction shape {pred.shape} differs from the ground truth's {gt.shape}"
            )
        cm.update(pred, gt)
        if save_dir is not None:
            write_label_png(pred, save_dir / f"{stem}.png")
    return cm


def model_predictor(segmenter):
    from fashiondemo.images import load_rgb

    def predict(stem: str, image_path: Path | None, gt: np.ndarray) -> np.ndarray:
        if image_path is None:
            raise EvaluationError(f"no image for label map {stem}.png (expected img_dir/<split>/{stem}.jpg)")
        rgb = load_rgb(image_path)
        if rgb.shape[:2] != gt.shape:
            raise EvaluationError(
                f"{image_path}: image {rgb.shape[:2]} and label map {gt.shape} differ in size"
            )
        return segmenter.predict(rgb)

    return predict


def folder_predictor(folder: Path):
    if not folder.is_dir():
        raise EvaluationError(f"--predictions {folder} is not a folder")

    def predict(stem: str, image_path: Path | None, gt: np.ndarray) -> np.ndarray:
        return read_label_png(folder / f"{stem}.png", expected_shape=gt.shape)

    return predict


def write_outputs(table: Table2, out: Path, *, compare_seed: bool) -> dict[str, Path]:
    """Table 2 files, the per-class IoU chart (beside the seed's bars when comparing) and the comparison."""
    from fashiondemo.plots import per_class_bar_chart

    paths = {f"table2.{k}": v for k, v in table.write(out).items()}
    seed = read_seed_table() if compare_seed else None
    paths["per_class_iou.png"] = per_class_bar_chart(table, out / "per_class_iou.png", reference=seed)
    if seed is not None:
        paths.update({f"table2_vs_seed.{k}": v for k, v in Comparison(table, seed).write(out).items()})
    return paths


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fashiondemo.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", required=True, type=Path, help="prepared data root (img_dir/, ann_dir/)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", required=True, type=Path, help="folder for the table, chart and comparison")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="exported OCRNet checkpoint (path or URL); default: the app's")
    source.add_argument("--predictions", type=Path, help="score this folder of {stem}.png label maps instead")
    source.add_argument("--random-weights", action="store_true", help="untrained network (pipeline check)")
    parser.add_argument("--compare-seed", action="store_true", help="also compare with the report's Table 2")
    parser.add_argument(
        "--infer-size", type=int, help="long-side cap at inference (default: the checkpoint's)"
    )
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--device", help="cpu, cuda, mps (default: chosen automatically)")
    parser.add_argument("--limit", type=int, help="only the first N images (quick looks)")
    parser.add_argument("--save-predictions", type=Path, help="also write each label map as DIR/{stem}.png")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        pairs = split_pairs(args.data, args.split)[: args.limit]
        meta = {"split": args.split, "data": str(args.data)}
        if args.predictions:
            predict = folder_predictor(args.predictions)
            meta["predictions"] = str(args.predictions)
        else:
            from fashiondemo.ocrnet import OcrnetSegmenter

            segmenter = OcrnetSegmenter(
                args.checkpoint,
                random_weights=args.random_weights,
                device=args.device,
                infer_size=args.infer_size,
                precision=args.precision,
            ).load()
            predict = model_predictor(segmenter)
            meta.update(
                checkpoint=None if segmenter.random_weights else str(segmenter.checkpoint_path),
                random_weights=segmenter.random_weights,
                config_name=segmenter.meta.get("config_name"),
                iteration=segmenter.meta.get("iteration"),
                infer_size=segmenter.infer_size,
                precision=segmenter.precision,
            )
        cm = evaluate(pairs, predict, save_dir=args.save_predictions)
    except (EvaluationError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = Table2.from_confusion(cm, metadata=meta)
    paths = write_outputs(table, args.out, compare_seed=args.compare_seed)
    if meta.get("random_weights"):
        print("RANDOM WEIGHTS: these numbers only check the pipeline, they say nothing about a model.")
    summary = table.summary()
    print(
        f"{cm.n_images} images, split {args.split}: aAcc {summary['aAcc']:.2f}  mIoU {summary['mIoU']:.2f}  "
        f"mAcc {summary['mAcc']:.2f}"
    )
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
