"""A small dataset in Fashionpedia's exact format, generated offline, for tests and for running it all here.

    python -m fashiondemo.synthetic --out DIR --images N --seed S [--val-images M]

writes ``DIR/instances_attributes_train2020.json`` + ``DIR/train/*.jpg`` (N images) and
``DIR/instances_attributes_val2020.json`` + ``DIR/test/*.jpg`` (M images, default max(2, N // 4)); the val
images live under ``test/`` as in Fashionpedia's val_test2020.zip. Same seed, same bytes.

The json has Fashionpedia's keys (info, licenses, images, annotations, categories, attributes) and its 46
categories from fashiondemo.classes. Fields Fashionpedia carries that no reader here uses are filled with
plausible placeholders: every category gets ``level: 2`` (supercategory = level 1, category = level 2 in its
ontology) and ``taxonomy_id: "cat_NN"``; attributes are a 24-entry subset named in Fashionpedia's style with
``level: 1``. Most instances are polygons, ~20% compressed RLE, crowd regions uncompressed RLE as in COCO.
The pictures are not photos: figures with garments drawn in class colours and textures (see synthetic_draw).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from tqdm import tqdm

from fashiondemo.classes import FASHIONPEDIA_CATEGORIES, is_part_category
from fashiondemo.synthetic_draw import (
    HAIR_COLOURS,
    SKIN_TONES,
    background,
    body_polygons,
    crowd_scatter,
    finish,
    paint_instance,
    pattern_of,
    polygons_mask,
)
from fashiondemo.synthetic_outfit import BAG, SHOE, Piece, random_outfit

# (id, name, supercategory); ids sparse like Fashionpedia's 0..340 attribute table.
ATTRIBUTES = (
    (3, "symmetrical", "silhouette"), (10, "tight (fit)", "silhouette"), (11, "regular (fit)", "silhouette"),
    (12, "loose (fit)", "silhouette"), (115, "plain (pattern)", "textile pattern"),
    (116, "stripe", "textile pattern"), (117, "check", "textile pattern"), (118, "dot", "textile pattern"),
    (136, "mini (length)", "length"), (137, "knee (length)", "length"), (139, "maxi (length)", "length"),
    (145, "short (length)", "length"), (148, "wrist-length", "length"), (160, "zip-up", "opening type"),
    (163, "single breasted", "opening type"), (176, "normal waist", "waistline"),
    (206, "v-neck", "neckline type"), (210, "round (neck)", "neckline type"),
    (230, "shirt (collar)", "collar type"), (295, "leather", "non-textile material type"),
    (296, "denim", "textile finishing, manufacturing techniques"), (300, "sequin (decoration)", "decoration"),
    (310, "high waist", "waistline"), (317, "sleeveless", "length"),
)  # fmt: skip
ATTRIBUTE_IDS = {name: ident for ident, name, _ in ATTRIBUTES}
PATTERN_ATTRIBUTE = {"plain": "plain (pattern)", "horizontal stripes": "stripe", "vertical stripes": "stripe",
                     "checks": "check", "dots": "dot"}  # fmt: skip
SPLITS = {
    "train": ("instances_attributes_train2020.json", "train", 1),
    "val": ("instances_attributes_val2020.json", "test", 50001),
}


def _categories() -> list[dict]:
    return [
        {"id": i, "name": name, "supercategory": sup, "level": 2, "taxonomy_id": f"cat_{i:02d}"}
        for i, (name, sup) in enumerate(FASHIONPEDIA_CATEGORIES)
    ]


def uncompressed_rle(mask: np.ndarray) -> dict:
    """HxW bool -> COCO uncompressed RLE {"counts": [runs...], "size": [h, w]}, column-major, zeros first."""
    flat = mask.flatten(order="F").astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"counts": runs, "size": list(mask.shape)}


def _to_pixels(
    piece: Piece, box: tuple[float, float, float, float], width: int, height: int
) -> list[list[float]]:
    x0, y0, fw, fh = box
    polygons = []
    for polygon in piece.polygons:
        flat = []
        for u, v in polygon:
            flat += [
                round(min(max(x0 + u * fw, 0.0), width), 2),
                round(min(max(y0 + v * fh, 0.0), height), 2),
            ]
        polygons.append(flat)
    return polygons


def _figure_boxes(rng: np.random.Generator, width: int, height: int, count: int) -> list[tuple]:
    boxes = []
    for index in range(count):
        fh = height * rng.uniform(0.72, 0.94)
        fw = fh * rng.uniform(0.4, 0.5)
        slot = width / count
        x0 = slot * index + rng.uniform(0, max(1.0, slot - fw))
        boxes.append((x0, rng.uniform(0.02, 0.98) * (height - fh) + 0.02 * fh, fw, fh))
    return boxes


def _segmentation(mask: np.ndarray, polygons: list, crowd: bool, rng: np.random.Generator):
    if crowd:
        return uncompressed_rle(mask)
    if rng.random() < 0.2:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"counts": rle["counts"].decode("ascii"), "size": [int(v) for v in rle["size"]]}
    return polygons


def make_image(rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One picture (HxWx3 uint8) and its annotations (dicts without ids), drawn in paint order."""
    if rng.random() < 0.2:
        width, height, figures = int(rng.integers(400, 641)), int(rng.integers(280, 421)), 2
    else:
        width = int(rng.integers(200, 481))
        height, figures = int(width * rng.uniform(1.1, 1.7)), 1
    canvas = background(rng, height, width)
    entries = []  # (piece, pixel polygons, mask)
    if rng.random() < 0.25:  # a shelf of bags or shoes: one crowd region, as COCO marks groups
        x = float(rng.choice([0.0, width * 0.75]))
        shelf = Piece(int(rng.choice([BAG, SHOE])), [[(0, 0), (1, 0), (1, 1), (0, 1)]], iscrowd=True)
        polygons = _to_pixels(shelf, (x, height * 0.7, width * 0.25, height * 0.28), width, height)
        entries.append((shelf, polygons, polygons_mask(polygons, height, width)))
        crowd_scatter(canvas, entries[-1][2], shelf.category_id, rng)
    for box in _figure_boxes(rng, width, height, figures):
        pieces, wrist = random_outfit(rng)
        skin, hair = SKIN_TONES[rng.integers(len(SKIN_TONES))], HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
        for name, colour in (("skin", skin), ("hair", hair)):
            polygons = _to_pixels(Piece(0, body_polygons(wrist)[name]), box, width, height)
            canvas[polygons_mask(polygons, height, width)] = colour
        for piece in pieces:
            polygons = _to_pixels(piece, box, width, height)
            if all(len(p) >= 6 for p in polygons):
                entries.append((piece, polygons, polygons_mask(polygons, height, width)))
    entries = [e for e in entries if e[2].any()]
    # The same order fashionpedia.paint_order uses, so the drawn picture agrees with the semantic map.
    order = sorted(
        range(len(entries)),
        key=lambda i: (is_part_category(entries[i][0].category_id), -int(entries[i][2].sum()), i),
    )
    for index in order:
        piece, _, mask = entries[index]
        if piece.iscrowd and piece.category_id not in (BAG, SHOE):
            crowd_scatter(canvas, mask, piece.category_id, rng)
        elif not piece.iscrowd:
            paint_instance(canvas, mask, piece.category_id, rng)
    annotations = []
    for piece, polygons, mask in entries:
        names = list(piece.attributes)
        if not is_part_category(piece.category_id) and not piece.iscrowd:
            names.append(PATTERN_ATTRIBUTE[pattern_of(piece.category_id)])
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        annotations.append({
            "category_id": piece.category_id,
            "segmentation": _segmentation(mask, polygons, piece.iscrowd, rng),
            "area": int(mask.sum()),
            "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
            "iscrowd": int(piece.iscrowd),
            "attribute_ids": sorted({ATTRIBUTE_IDS[n] for n in names}),
        })  # fmt: skip
    return finish(canvas, rng), annotations


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_split(out: str | os.PathLike, split: str, count: int, seed: int, *, progress: bool = False) -> Path:
    """Write one split (json + images) and return the json's path."""
    json_name, folder, first_id = SPLITS[split]
    out = Path(out)
    (out / folder).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in tqdm(range(count), desc=f"synthetic {split}", disable=not progress, unit="img"):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, index])
        rgb, anns = make_image(rng)
        stem = hashlib.sha1(f"fashiondemo-synthetic/{seed}/{split}/{index}".encode()).hexdigest()[:32]
        buffer = _encode_jpeg(rgb)
        _atomic_write(out / folder / f"{stem}.jpg", buffer)
        image_id = first_id + index
        images.append({
            "id": image_id, "width": rgb.shape[1], "height": rgb.shape[0], "file_name": f"{stem}.jpg",
            "license": 1, "time_captured": "synthetic", "original_url": "", "isstatic": 1, "kaggle_id": stem,
        })  # fmt: skip
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    dataset = {
        "info": {"year": 2020, "version": "1.0", "description": f"fashiondemo synthetic Fashionpedia-format "
                 f"dataset, seed {seed}: drawn figures, not photos", "contributor": "fashiondemo.synthetic",
                 "url": "", "date_created": "2020-01-01"},
        "licenses": [{"url": "https://creativecommons.org/licenses/by/4.0/", "id": 1, "name": "CC BY 4.0"}],
        "images": images,
        "annotations": annotations,
        "categories": _categories(),
        "attributes": [{"id": i, "name": n, "supercategory": s, "level": 1} for i, n, s in ATTRIBUTES],
    }  # fmt: skip
    json_path = out / json_name
    _atomic_write(json_path, json.dumps(dataset, separators=(",", ":")).encode())
    return json_path


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_dataset(out: str | os.PathLike, n_train: int, n_val: int | None = None, seed: int = 0,
                  *, progress: bool = False) -> Path:  # fmt: skip
    """Write both splits under `out` (val defaults to max(2, n_train // 4) images); returns `out`."""
    if n_train < 0 or (n_val is not None and n_val < 0):
        raise ValueError("image counts must be >= 0")
    write_split(out, "train", n_train, seed, progress=progress)
    write_split(out, "val", max(2, n_train // 4) if n_val is None else n_val, seed, progress=progress)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashiondemo.synthetic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--images", type=int, default=16, help="number of train images (default 16)")
    parser.add_argument(
        "--val-images", type=int, default=None, help="val images (default max(2, images // 4))"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_dataset(args.out, args.images, args.val_images, args.seed, progress=True)
    for split, (json_name, folder, _) in SPLITS.items():
        data = json.loads((args.out / json_name).read_text())
        print(f"{split}: {len(data['images'])} images, {len(data['annotations'])} annotations -> "
              f"{args.out / json_name}, {args.out / folder}/")  # fmt: skip
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
