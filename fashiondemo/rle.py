"""Binary masks <-> COCO run-length encoding, through pycocotools (pure: numpy + pycocotools).

The JSON form is the one COCO results files and Fashionpedia use: ``{"size": [h, w], "counts": "<str>"}``.
pycocotools hands back ``counts`` as bytes; they are decoded to ASCII text so the result is JSON-able.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycocotools import mask as mask_utils


def masks_to_coco_rle(
    masks: np.ndarray,
    scores: Sequence[float] | np.ndarray | None = None,
    image_id: int | str | None = None,
    extra: dict | None = None,
) -> list[dict]:
    """One COCO result dict per mask of ``masks`` (NxHxW bool, or HxW for one mask).

    Each dict: ``segmentation`` (compressed RLE, counts as str), ``bbox`` [x, y, w, h], ``area`` (pixels), and
    ``score`` / ``image_id`` when given, plus the keys of ``extra`` (e.g. ``category_id``, ``model``).
    """
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"masks must be NxHxW (or HxW), got shape {arr.shape}")
    if scores is not None and len(scores) != len(arr):
        raise ValueError(f"got {len(arr)} masks but {len(scores)} scores")
    if len(arr) == 0:
        return []
    # pycocotools wants HxWxN uint8 in Fortran order.
    encoded = mask_utils.encode(np.asfortranarray(np.moveaxis(arr != 0, 0, -1).astype(np.uint8)))
    boxes = mask_utils.toBbox(encoded)
    areas = mask_utils.area(encoded)
    results = []
    for i, rle in enumerate(encoded):
        item = {
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "bbox": [float(v) for v in boxes[i]],
            "area": int(areas[i]),
        }
        if image_id is not None:
            item["image_id"] = image_id
        if scores is not None:
            item["score"] = float(scores[i])
        item.update(extra or {})
        results.append(item)
    return results


def rle_to_masks(rles: Sequence[dict]) -> np.ndarray:
    """Decode COCO RLEs to NxHxW bool.

    Items may be result/annotation dicts (with ``segmentation``) or bare ``{"size", "counts"}`` dicts; counts
    may be compressed (str or bytes) or uncompressed (a list of run lengths). All must share one size.
    """
    if len(rles) == 0:
        raise ValueError("no RLEs to decode (the mask size is unknown for an empty list)")
    decoded = []
    for i, item in enumerate(rles):
        seg = item.get("segmentation", item) if isinstance(item, dict) else None
        if not isinstance(seg, dict) or "size" not in seg or "counts" not in seg:
            raise ValueError(f"RLE {i} is not a COCO RLE dict with 'size' and 'counts'")
        h, w = (int(v) for v in seg["size"])
        counts = seg["counts"]
        if isinstance(counts, list):
            # Uncompressed RLE: runs must cover the image exactly, or pycocotools reads garbage.
            if sum(counts) != h * w:
                raise ValueError(f"RLE {i}: uncompressed counts sum to {sum(counts)}, expected h*w = {h * w}")
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            rle = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        try:
            mask = mask_utils.decode(rle)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"RLE {i}: pycocotools cannot decode it ({exc})") from None
        if not isinstance(counts, list) and mask_utils.encode(mask)["counts"] != rle["counts"]:
            # pycocotools fills whatever short or corrupt counts leave out with garbage instead of failing;
            # its own output is canonical, so a valid string re-encodes to itself.
            raise ValueError(
                f"RLE {i}: compressed counts do not describe a {h}x{w} mask (truncated or corrupt)"
            )
        if decoded and mask.shape != decoded[0].shape:
            raise ValueError(f"RLE {i} is {mask.shape[0]}x{mask.shape[1]}, RLE 0 is {decoded[0].shape}")
        decoded.append(mask)
    return np.stack(decoded).astype(bool)
