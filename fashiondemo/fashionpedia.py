"""Read one Fashionpedia split (COCO json + image folder): validated instances and 47-class semantic maps.

Pure module: numpy, Pillow and pycocotools (a small C extension), no torch. Every annotation is checked
by `fashionpedia_validate` before pycocotools sees it: pycocotools crashes on or silently misreads bad input.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashiondemo.classes import CATEGORY_NAMES, IGNORE_INDEX, is_part_category, label_of_category
from fashiondemo.fashionpedia_validate import (
    AnnotationError,
    check_annotation,
    check_categories,
    check_image,
)
from fashiondemo.images import load_rgb

__all__ = ["AnnotationError", "FashionpediaSplit", "Instance", "paint_order"]

PYCOCOTOOLS_NUMPY2_WARNING = "__array__ implementation doesn't accept a copy keyword"


@contextlib.contextmanager
def quiet_pycocotools():
    """pycocotools 2.0.11's mask.decode warns on every call under numpy 2 (its C array type lacks the `copy`
    keyword); the masks are correct, so silence exactly that warning, only around our own decode calls."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PYCOCOTOOLS_NUMPY2_WARNING, category=DeprecationWarning)
        yield


@dataclass
class Instance:
    """One annotated object. mask: HxW bool at the json's image size; bbox: [x, y, w, h] in pixels."""

    ann_id: int
    category_id: int  # Fashionpedia id 0..45
    label: int  # semantic label 1..46
    name: str
    mask: np.ndarray = field(repr=False)
    bbox: tuple[float, float, float, float]
    iscrowd: bool
    area: int  # mask pixel count
    attribute_ids: tuple[int, ...]


def paint_order(instances: list[Instance]) -> list[Instance]:
    """Non-crowd instances in the order they are painted into the semantic map (later ones end on top).

    Whole garments and accessories (ids 0-26) first, then parts, closures and decorations (27-45); within each
    group larger areas first. Parts lie inside their garment, so painting them last keeps sleeves, collars and
    pockets visible; large before small keeps a small item lying over a big one (a belt on a dress) visible.
    Ties keep annotation-id order, so the map is deterministic.
    """
    solid = [inst for inst in instances if not inst.iscrowd]
    return sorted(solid, key=lambda inst: (is_part_category(inst.category_id), -inst.area, inst.ann_id))


class FashionpediaSplit:
    """A validated Fashionpedia split.

    Args:
        ann_path: an ``instances_attributes_{train,val}2020.json`` (or a synthetic one in the same format).
        image_dir: the folder holding the images named by each entry's ``file_name``.
        strict: raise `AnnotationError` at the first bad entry (default); with False, skip bad entries and
            count them in ``.skipped`` (reason -> count) and ``.skipped_ids`` (reason -> ids); per image,
            ``.skipped_images`` (dropped image id -> why) and ``.skipped_by_image`` (image id -> reason ->
            count of its skipped annotations), so a viewer can say which ground truth is incomplete.
    """

    def __init__(
        self,
        ann_path: str | os.PathLike,
        image_dir: str | os.PathLike,
        *,
        strict: bool = True,
        raw: dict | None = None,
    ):
        self.ann_path = Path(ann_path)
        self.image_dir = Path(image_dir)
        self.strict = strict
        self.skipped: Counter[str] = Counter()
        self.skipped_ids: dict[str, list[int]] = {}
        self.skipped_images: dict[int, str] = {}
        self.skipped_by_image: dict[int, Counter[str]] = {}
        if raw is None:  # `raw`: the json's content already in memory (e.g. one image's part, in a worker)
            raw = self._read_json()
        if not isinstance(raw, dict) or not isinstance(raw.get("images"), list):
            raise AnnotationError(f"{self.ann_path}: not a COCO instances file (no 'images' list)")
        if not isinstance(raw.get("annotations"), list):
            raise AnnotationError(f"{self.ann_path}: not a COCO instances file (no 'annotations' list)")
        try:
            check_categories(raw.get("categories"))
        except AnnotationError as exc:
            raise AnnotationError(f"{self.ann_path.name}: {exc}") from None
        self.info = raw.get("info", {})
        self.attributes = {a["id"]: a["name"] for a in raw.get("attributes", []) if "id" in a and "name" in a}
        self.coco = self._build_coco(raw)
        self.image_ids: list[int] = sorted(self.coco.imgs)
        self._by_file_name = {img["file_name"]: img_id for img_id, img in self.coco.imgs.items()}

    def _read_json(self) -> dict:
        try:
            with open(self.ann_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise AnnotationError(f"annotation file {self.ann_path} not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AnnotationError(f"{self.ann_path} is not valid JSON: {exc}") from None

    def raw_part(self, image_id: int) -> dict:
        """The json's content for one image (its entry, its valid annotations, the categories): enough to
        rebuild a one-image split elsewhere with ``FashionpediaSplit(ann_path, image_dir, raw=...)``."""
        return {
            "images": [self.image_info(image_id)],
            "annotations": list(self.coco.imgToAnns.get(image_id, [])),
            "categories": self.coco.dataset["categories"],
        }

    def skipped_note(self, image_id: int) -> str:
        """'' or e.g. '2 malformed annotations skipped (bad_polygon, bad_rle): ground truth incomplete'."""
        reasons = self.skipped_by_image.get(image_id)
        if not reasons:
            return ""
        count = sum(reasons.values())
        plural = "s" if count > 1 else ""
        why = ", ".join(sorted(reasons))
        return f"{count} malformed annotation{plural} skipped ({why}): ground truth incomplete"

    def _reject(self, reason: str, message: str, ident: int | None) -> None:
        if self.strict:
            raise AnnotationError(f"{self.ann_path.name}: {message}")
        self.skipped[reason] += 1
        self.skipped_ids.setdefault(reason, []).append(ident)

    def _build_coco(self, raw: dict):
        from pycocotools.coco import COCO

        images: dict[int, dict] = {}
        for image in raw["images"]:
            problem = check_image(image)
            ident = image.get("id") if isinstance(image, dict) else None
            if problem is None and ident in images:
                problem_reason, message = "duplicate_id", "the image id appears twice"
            elif problem is not None:
                problem_reason, message = problem.reason, problem.message
            else:
                images[ident] = image
                continue
            self._reject(problem_reason, f"image {ident}: {message}", ident)
            if problem is not None and isinstance(ident, int) and not isinstance(ident, bool):
                self.skipped_images[ident] = message
        annotations, seen = [], set()
        for ann in raw["annotations"]:
            problem = check_annotation(ann, images, seen)
            if problem is not None:
                ident = ann.get("id") if isinstance(ann, dict) else None
                image_id = ann.get("image_id") if isinstance(ann, dict) else None
                self._reject(
                    problem.reason, f"annotation {ident} (image {image_id}): {problem.message}", ident
                )
                if isinstance(image_id, int) and image_id in images:  # lenient: that image's GT lacks it
                    self.skipped_by_image.setdefault(image_id, Counter())[problem.reason] += 1
                continue
            seen.add(ann["id"])
            annotations.append(ann)
        clean = {**{k: v for k, v in raw.items() if k not in ("images", "annotations")}}
        clean["images"] = list(images.values())
        clean["annotations"] = annotations
        coco = COCO()
        coco.dataset = clean
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints "creating index..."
            coco.createIndex()
        return coco

    # -- images ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.image_ids)

    def image_info(self, image_id: int) -> dict:
        """The json's image entry (id, width, height, file_name, ...)."""
        try:
            return self.coco.imgs[image_id]
        except KeyError:
            raise KeyError(f"image id {image_id} is not in {self.ann_path.name}") from None

    def image_id_of(self, file_name: str) -> int:
        """Image id from a file name (as in the json, e.g. 'abc.jpg'); KeyError if absent."""
        try:
            return self._by_file_name[Path(file_name).name]
        except KeyError:
            raise KeyError(f"{file_name} is not listed in {self.ann_path.name}") from None

    def image_path(self, image_id: int) -> Path:
        return self.image_dir / self.image_info(image_id)["file_name"]

    def load_image(self, image_id: int) -> np.ndarray:
        """RGB uint8 HxWx3 at the json's size (EXIF orientation handled as the annotations need)."""
        info = self.image_info(image_id)
        return load_rgb(self.image_path(image_id), expected_size=(info["width"], info["height"]))

    # -- annotations ----------------------------------------------------------------------------------------
    def instances(self, image_id: int) -> list[Instance]:
        """Every valid annotation of the image, in json order, with its decoded HxW bool mask."""
        self.image_info(image_id)
        result = []
        for ann in self.coco.imgToAnns.get(image_id, []):
            with quiet_pycocotools():
                mask = self.coco.annToMask(ann).astype(bool)
            bbox = ann.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4):
                bbox = _mask_bbox(mask)
            result.append(
                Instance(
                    ann_id=ann["id"],
                    category_id=ann["category_id"],
                    label=label_of_category(ann["category_id"]),
                    name=CATEGORY_NAMES[ann["category_id"]],
                    mask=mask,
                    bbox=tuple(float(v) for v in bbox),
                    iscrowd=bool(ann.get("iscrowd", 0)),
                    area=int(mask.sum()),
                    attribute_ids=tuple(ann.get("attribute_ids") or ()),
                )
            )
        return result

    def semantic_map(self, image_id: int) -> np.ndarray:
        """HxW uint8 labels: 0 background, 1..46 category_id + 1, 255 ignore.

        Non-crowd instances are painted in `paint_order` (garments, then parts on top; larger first).
        Crowd regions (``iscrowd=1``) become 255 where no non-crowd instance covers them: a crowd mask
        outlines an imprecise group (a cluster of sequins, a pile of bags) rather than exact pixels, which is
        why COCO's own evaluation ignores crowd regions instead of scoring them as right or wrong.
        """
        info = self.image_info(image_id)
        labels = np.zeros((info["height"], info["width"]), dtype=np.uint8)
        instances = self.instances(image_id)
        covered = np.zeros(labels.shape, dtype=bool)
        for inst in paint_order(instances):
            labels[inst.mask] = inst.label
            covered |= inst.mask
        for inst in instances:
            if inst.iscrowd:
                labels[inst.mask & ~covered] = IGNORE_INDEX
        return labels


def _mask_bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))
