"""Where the app's images come from: uploads, the bundled examples, and a Fashionpedia browser (pure).

Every source returns an `ImageRecord`: the RGB array, its ground truth when the image comes from a
Fashionpedia-format json, and a title saying where it came from. The bundled examples are a small synthetic
Fashionpedia-format split (so GT and metrics work offline) plus public-domain photos without GT.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashiondemo.compare import GroundTruth
from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.images import load_rgb
from fashiondemo.settings import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples"
SYNTHETIC_EXAMPLES = EXAMPLES_DIR / "fashionpedia-synthetic"
PHOTOS_DIR = EXAMPLES_DIR / "photos"
VAL_JSON = "instances_attributes_val2020.json"
VAL_IMAGES = "test"  # Fashionpedia ships val and test images together under test/
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class ImageRecord:
    """An image ready for the models: rgb (HxWx3 uint8), its GT (or None) and where it came from."""

    rgb: np.ndarray
    gt: GroundTruth | None
    title: str
    path: Path | None = None


def record_from_split(split: FashionpediaSplit, image_id: int, origin: str) -> ImageRecord:
    """Image + GT map + instances of one entry of a Fashionpedia-format split."""
    info = split.image_info(image_id)
    note = split.skipped_note(image_id)  # a lenient split drops malformed annotations: say so with the GT
    note = f"; {note}" if note else ""
    gt = GroundTruth(split.semantic_map(image_id), split.instances(image_id), f"{origin} #{image_id}{note}")
    return ImageRecord(
        split.load_image(image_id),
        gt,
        f"{origin} #{image_id} ({info['file_name']}{note})",
        split.image_path(image_id),
    )


def load_upload(path: str | os.PathLike) -> ImageRecord:
    """An uploaded file, decoded defensively (`images.load_rgb`: bombs, truncation, EXIF, odd modes)."""
    path = Path(path)
    return ImageRecord(load_rgb(path), None, f"upload {path.name} (no ground truth)", path)


class FashionpediaBrowser:
    """Images of one Fashionpedia-format split under ``root`` (``root/instances_attributes_val2020.json`` and
    ``root/test/``), with their GT. The json is read and validated once, on first use (the real val json is
    14.5 MB); ``strict=False`` skips and counts malformed annotations instead of refusing the whole file."""

    def __init__(self, root: str | os.PathLike, *, origin: str = "Fashionpedia val", strict: bool = False):
        self.root = Path(root)
        self.origin = origin
        self.strict = strict
        self._split: FashionpediaSplit | None = None
        self._lock = threading.Lock()

    @property
    def split(self) -> FashionpediaSplit:
        with self._lock:
            if self._split is None:
                self._split = FashionpediaSplit(
                    self.root / VAL_JSON, self.root / VAL_IMAGES, strict=self.strict
                )
            return self._split

    def describe(self) -> str:
        split = self.split
        skipped = sum(split.skipped.values())
        note = f"; {skipped} malformed annotations skipped ({dict(split.skipped)})" if skipped else ""
        return f"{self.origin}: {len(split)} images in {self.root}{note}"

    def load(self, image_id: int | None = None, *, rng: random.Random | None = None) -> ImageRecord:
        """One image by id, or a random one when ``image_id`` is None."""
        split = self.split
        if not split.image_ids:
            raise ValueError(f"{self.root / VAL_JSON} lists no usable images")
        if image_id is None:
            image_id = (rng or random).choice(split.image_ids)
        if int(image_id) in split.skipped_images:
            why = split.skipped_images[int(image_id)]
            raise ValueError(f"image id {image_id} is malformed in {split.ann_path.name}, skipped: {why}")
        if int(image_id) not in split.coco.imgs:
            first, last = split.image_ids[0], split.image_ids[-1]
            raise ValueError(f"image id {image_id} is not in {self.origin} (ids {first}..{last})")
        return record_from_split(split, int(image_id), self.origin)


class ExampleLibrary:
    """The bundled examples, by display name: synthetic Fashionpedia-format images (with GT) and photos."""

    def __init__(self, examples_dir: str | os.PathLike = EXAMPLES_DIR):
        examples_dir = Path(examples_dir)
        self.synthetic = FashionpediaBrowser(
            examples_dir / SYNTHETIC_EXAMPLES.name, origin="synthetic example", strict=True
        )
        photos = examples_dir / PHOTOS_DIR.name
        self.photos = sorted(p for p in photos.glob("*") if p.suffix.lower() in PHOTO_SUFFIXES)

    def names(self) -> list[str]:
        synthetic = [f"synthetic #{i}" for i in self.synthetic.split.image_ids]
        return synthetic + [f"photo: {p.stem}" for p in self.photos]

    def paths(self) -> list[Path]:
        """Image files in ``names()`` order (for thumbnails)."""
        split = self.synthetic.split
        return [split.image_path(i) for i in split.image_ids] + list(self.photos)

    def load(self, name: str) -> ImageRecord:
        if name.startswith("synthetic #"):
            return self.synthetic.load(int(name.removeprefix("synthetic #")))
        for photo in self.photos:
            if name == f"photo: {photo.stem}":
                return ImageRecord(load_rgb(photo), None, f"{photo.stem} (no ground truth)", photo)
        raise ValueError(f"no bundled example named {name!r}; choose from {self.names()}")
