"""Dataset analysis, the report's section 2: class frequency (figure 2), image sizes (table 1, figure 3).

    python -m fashiondemo.analyze --ann JSON --images DIR --out OUT [--lenient]

writes into OUT: class_frequency.csv + class_frequency.png (instances per category), image_size_stats.csv +
image_size_stats.md (height/width max/min/mean) and image_size_distribution.png (width vs height).
Sizes come from the json's width/height, not from decoding every image (45k images would take an hour); the
outputs say so, and report how many of the listed files exist in DIR (a directory listing, no decoding).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashiondemo.classes import CATEGORY_NAMES, SUPERCATEGORY_OF, label_of_category
from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.fashionpedia_validate import AnnotationError

SIZE_SOURCE = "width/height from the annotation json (images not decoded)"


@dataclass
class ClassCount:
    category_id: int
    name: str
    supercategory: str
    instances: int  # annotations, crowd included
    crowd: int
    images: int  # images with at least one instance


@dataclass
class SizeStats:
    images: int
    height: dict[str, float]  # max, min, mean, median
    width: dict[str, float]
    files_present: int


def class_counts(split: FashionpediaSplit) -> list[ClassCount]:
    """One row per Fashionpedia category (all 46, zeros included), in category id order."""
    instances, crowd, images = Counter(), Counter(), {c: set() for c in range(len(CATEGORY_NAMES))}
    for ann in split.coco.anns.values():
        category = ann["category_id"]
        instances[category] += 1
        crowd[category] += int(bool(ann.get("iscrowd", 0)))
        images[category].add(ann["image_id"])
    return [
        ClassCount(c, name, SUPERCATEGORY_OF[name], instances[c], crowd[c], len(images[c]))
        for c, name in enumerate(CATEGORY_NAMES)
    ]


def size_stats(split: FashionpediaSplit) -> SizeStats:
    infos = [split.image_info(i) for i in split.image_ids]
    try:
        present = set(os.listdir(split.image_dir))
    except OSError:
        present = set()

    def describe(values: np.ndarray) -> dict[str, float]:
        if values.size == 0:
            return {"max": float("nan"), "min": float("nan"), "mean": float("nan"), "median": float("nan")}
        return {
            "max": values.max(),
            "min": values.min(),
            "mean": values.mean(),
            "median": float(np.median(values)),
        }

    heights = np.array([info["height"] for info in infos], dtype=float)
    widths = np.array([info["width"] for info in infos], dtype=float)
    files = sum(info["file_name"] in present for info in infos)
    return SizeStats(len(infos), describe(heights), describe(widths), files)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_class_frequency(counts: list[ClassCount], out: Path) -> None:
    total = sum(c.instances for c in counts) or 1
    rows = [
        [label_of_category(c.category_id), c.category_id, c.name, c.supercategory, c.instances, c.crowd,
         c.images, f"{100 * c.instances / total:.3f}"]
        for c in counts
    ]  # fmt: skip
    header = ["label", "category_id", "name", "supercategory", "instances", "crowd_instances", "images",
              "percent_of_instances"]  # fmt: skip
    _write_csv(out / "class_frequency.csv", header, rows)


def size_table_markdown(stats: SizeStats, title: str) -> str:
    lines = [
        f"# Image size statistics: {title}",
        "",
        "| | max | min | mean | median |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in (("Height", stats.height), ("Width", stats.width)):
        cells = [
            f"{values['max']:.0f}",
            f"{values['min']:.0f}",
            f"{values['mean']:.1f}",
            f"{values['median']:.1f}",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"{stats.images} images; {SIZE_SOURCE}. "
        f"{stats.files_present} of the {stats.images} listed files are present in the image folder.",
        "",
    ]
    return "\n".join(lines)


def write_size_stats(stats: SizeStats, out: Path, title: str) -> None:
    rows = [[name, *(f"{values[k]:.2f}" for k in ("max", "min", "mean", "median"))]
            for name, values in (("height", stats.height), ("width", stats.width))]  # fmt: skip
    _write_csv(out / "image_size_stats.csv", ["dimension", "max", "min", "mean", "median"], rows)
    _write_text(out / "image_size_stats.md", size_table_markdown(stats, title))


def analyze(ann_path, image_dir, out, *, strict: bool = True) -> dict[str, Path]:
    """Write the five outputs into `out`; returns {name: path}."""
    from fashiondemo.analyze_plots import plot_class_frequency, plot_size_distribution

    split = FashionpediaSplit(ann_path, image_dir, strict=strict)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    title = Path(ann_path).name
    counts = class_counts(split)
    stats = size_stats(split)
    write_class_frequency(counts, out)
    write_size_stats(stats, out, title)
    plot_class_frequency(counts, out / "class_frequency.png", title, len(split))
    infos = [split.image_info(i) for i in split.image_ids]
    sizes = np.array([[info["width"], info["height"]] for info in infos], dtype=float).reshape(-1, 2)
    plot_size_distribution(sizes, out / "image_size_distribution.png", title)
    names = ["class_frequency.csv", "class_frequency.png", "image_size_stats.csv", "image_size_stats.md",
             "image_size_distribution.png"]  # fmt: skip
    result = {name: out / name for name in names}
    result["skipped"] = dict(split.skipped)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashiondemo.analyze", description=__doc__.split("\n")[0])
    parser.add_argument("--ann", required=True, type=Path, help="instances_attributes_{train,val}2020.json")
    parser.add_argument("--images", required=True, type=Path, help="the json's image folder (only listed)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--lenient", action="store_true", help="skip (and count) bad annotations")
    args = parser.parse_args(argv)
    try:
        result = analyze(args.ann, args.images, args.out, strict=not args.lenient)
    except AnnotationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    skipped = result.pop("skipped")
    print((args.out / "image_size_stats.md").read_text())
    for path in result.values():
        print(f"wrote {path}")
    if skipped:
        print(f"annotations skipped (lenient): {skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
