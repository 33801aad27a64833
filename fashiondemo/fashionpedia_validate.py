"""Checks a Fashionpedia/COCO annotation dict before pycocotools sees any of it (pure python + numpy).

pycocotools trusts its input: NaN polygon coordinates send its C rasterizer into an unbounded allocation
(the process was killed, exit 137, when tried here), an empty segmentation list raises IndexError deep inside
`annToRLE`, a 4-number polygon is taken for a box, and RLE counts that do not add up to height*width decode
to garbage masks (values of 86 in a 0/1 mask, seen here). So every annotation is checked here first; each
problem is one `Problem(reason, message)` that the reader turns into an error (strict) or a counted skip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from fashiondemo.classes import CATEGORY_NAMES, NUM_CATEGORIES


class AnnotationError(ValueError):
    """The annotation json breaks a rule; the message names the annotation id (and image id) involved."""


@dataclass(frozen=True)
class Problem:
    reason: str  # short key, counted in FashionpediaSplit.skipped (e.g. "bad_polygon")
    message: str  # a sentence for people


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_categories(categories) -> None:
    """Refuse a category list that is not exactly Fashionpedia's 46 (ids 0..45 with their names).

    An older Fashionpedia sample file has 48 categories with different ids; mixing it in would silently shift
    every label, so it is an error, not a variant.
    """
    if not isinstance(categories, list) or not categories:
        raise AnnotationError("the json has no 'categories' list; is this a Fashionpedia instances file?")
    try:
        found = {int(c["id"]): str(c["name"]) for c in categories}
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationError(f"a category entry lacks an integer 'id' or a 'name' ({exc!r})") from None
    if len(categories) != NUM_CATEGORIES or len(found) != NUM_CATEGORIES:
        raise AnnotationError(
            f"the json has {len(categories)} categories, Fashionpedia 2020 has {NUM_CATEGORIES} (ids 0..45); "
            "refusing a different category list (e.g. the older 48-category sample) rather than mislabel it"
        )
    for cat_id, name in enumerate(CATEGORY_NAMES):
        if found.get(cat_id) != name:
            raise AnnotationError(
                f"category id {cat_id} is named {found.get(cat_id)!r} in the json but {name!r} in "
                "Fashionpedia 2020; refusing a different category list rather than mislabelling it"
            )


def check_image(image) -> Problem | None:
    """An image entry needs an integer id, a file_name and positive integer width/height."""
    if not isinstance(image, dict) or not _is_int(image.get("id")):
        return Problem("bad_image", f"image entry without an integer 'id': {str(image)[:80]}")
    if not isinstance(image.get("file_name"), str) or not image["file_name"]:
        return Problem("bad_image", "has no 'file_name'")
    for key in ("width", "height"):
        value = image.get(key)
        if not _is_int(value) or value <= 0:
            return Problem("bad_image", f"has invalid {key} {value!r} (need a positive integer)")
    return None


def _check_polygons(polygons: list) -> Problem | None:
    for index, polygon in enumerate(polygons):
        if not isinstance(polygon, list):
            kind = type(polygon).__name__
            return Problem("bad_polygon", f"polygon {index} is a {kind}, not a list of numbers")
        if len(polygon) < 6:
            # pycocotools would treat a 4-number list as a box [x, y, w, h]; fewer points is no area at all.
            message = f"polygon {index} has {len(polygon)} numbers; a polygon needs >= 3 points (6 numbers)"
            return Problem("bad_polygon", message)
        if len(polygon) % 2:
            return Problem(
                "bad_polygon", f"polygon {index} has an odd number of coordinates ({len(polygon)})"
            )
        try:  # fast path, summing in C (train2020 has ~1M polygons): one NaN or inf makes the sum non-finite
            if math.isfinite(sum(polygon)):
                continue
        except TypeError:  # a string or null among the numbers
            pass
        for value in polygon:
            if not _is_number(value) or not math.isfinite(value):
                message = f"polygon {index} has a non-finite or non-numeric coordinate {value!r}"
                return Problem("bad_polygon", message)
        return Problem("bad_polygon", f"polygon {index} has coordinates far too large to be pixels")
    return None


def decode_compressed_counts(counts: str) -> list[int]:
    """COCO's compressed RLE string -> run lengths (the inverse of pycocotools' rleToString).

    Each value is written 5 bits per character (offset 48, bit 0x20 = more characters follow, bit 0x10 of the
    last character = sign); from the third run on, values are deltas to the run two before.
    """
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                raise ValueError("compressed RLE string ends in the middle of a number")
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                raise ValueError(f"character {counts[pos]!r} is not valid in a compressed RLE string")
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            pos += 1
            shift += 1
            if not more and code & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_rle(rle: dict, image: dict) -> Problem | None:
    size, counts = rle.get("size"), rle.get("counts")
    height, width = image["height"], image["width"]
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
        return Problem("bad_rle", f"RLE 'size' must be [height, width], got {size!r}")
    if size != [height, width]:
        return Problem(
            "bad_rle", f"RLE size {size} (height, width) differs from the image's [{height}, {width}]"
        )
    if isinstance(counts, str):
        try:
            runs = decode_compressed_counts(counts)
        except ValueError as exc:
            return Problem("bad_rle", f"compressed RLE counts are corrupt: {exc}")
    elif isinstance(counts, list):
        if not all(_is_int(v) for v in counts):
            return Problem("bad_rle", "uncompressed RLE counts must all be integers")
        runs = counts
    else:
        return Problem("bad_rle", f"RLE 'counts' must be a string or a list, got {type(counts).__name__}")
    if any(v < 0 for v in runs):
        return Problem("bad_rle", "RLE counts contain a negative run length")
    if sum(runs) != height * width:
        return Problem(
            "bad_rle",
            f"RLE counts sum to {sum(runs)} pixels but the image has {height}x{width} = {height * width}",
        )
    return None


def check_annotation(ann, images_by_id: dict[int, dict], seen_ids: set[int]) -> Problem | None:
    """First problem of one annotation (None if it is fine to hand to pycocotools)."""
    if not isinstance(ann, dict) or not _is_int(ann.get("id")):
        return Problem("bad_fields", f"annotation entry without an integer 'id': {str(ann)[:80]}")
    if ann["id"] in seen_ids:
        return Problem("duplicate_id", "the annotation id appears twice")
    image = images_by_id.get(ann.get("image_id"))
    if image is None:
        return Problem(
            "missing_image", f"refers to image id {ann.get('image_id')!r}, which the json does not list"
        )
    category = ann.get("category_id")
    if not _is_int(category) or not 0 <= category < NUM_CATEGORIES:
        return Problem("unknown_category", f"has category_id {category!r}; Fashionpedia's are 0..45")
    if ann.get("iscrowd", 0) not in (0, 1):
        return Problem("bad_fields", f"has iscrowd {ann.get('iscrowd')!r}; must be 0 or 1")
    segmentation = ann.get("segmentation")
    if segmentation is None or segmentation == [] or segmentation == {}:
        return Problem("empty_segmentation", "has an empty segmentation")
    if isinstance(segmentation, list):
        if any(p == [] for p in segmentation):
            return Problem("empty_segmentation", "has an empty polygon in its segmentation")
        return _check_polygons(segmentation)
    if isinstance(segmentation, dict):
        return _check_rle(segmentation, image)
    return Problem("bad_fields", f"segmentation is a {type(segmentation).__name__}, not polygons or RLE")
