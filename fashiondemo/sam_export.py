"""SAM masks to files: one PNG per mask and a COCO-RLE JSON holding the prompts that made them.

Files: `<stem>_mask<i>.png` (8-bit grey, 255 = mask, 0 = not) and `<stem>.json`:
    {"format": "fashiondemo-sam-masks/1", "image": {"key", "height", "width"}, "model": {...},
     "prompts": {"points", "labels", "box_xyxy"} | null, "mode": "prompt" | "everything",
     "masks": [{"segmentation": COCO RLE, "bbox": [x, y, w, h], "area", "score", "png"}, ...]}
Every file is written atomically (temp file + os.replace), the PNGs first and the JSON last, so a JSON that
exists always points at complete PNGs. RLE via fashiondemo.masks (pycocotools). Pure module (no torch).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashiondemo.digests import atomic_write_bytes, atomic_write_text
from fashiondemo.masks import masks_to_coco_rle, rle_to_masks

FORMAT = "fashiondemo-sam-masks/1"


@dataclass(frozen=True)
class ExportedMasks:
    json_path: Path
    png_paths: tuple[Path, ...]


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """(H, W) bool -> PNG bytes, 8-bit grey 0/255 (lossless, unlike Gradio's default webp)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def export_masks(
    out_dir: str | Path,
    stem: str,
    masks: np.ndarray,
    scores: np.ndarray,
    *,
    prompts: dict | None,
    image_key: str,
    model: dict,
    mode: str = "prompt",
) -> ExportedMasks:
    """Write masks (N, H, W) bool with scores (N,) and their provenance; returns the paths written.

    prompts: `Prompts.to_json()` (None in everything mode); model: e.g. `SamSegmenter.describe()` minus the
    cache figures, so a reader can tell random-weight output from real output.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.dtype != bool:
        raise ValueError(f"masks must be an (N, H, W) bool array, got {masks.dtype} {masks.shape}")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(masks):
        raise ValueError(f"{len(masks)} masks but {len(scores)} scores")
    if not stem or any(c in stem for c in "/\\\0") or stem.startswith("."):
        raise ValueError(f"stem must be a plain file name part, got {stem!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png_paths = []
    for i, mask in enumerate(masks):
        path = out / f"{stem}_mask{i}.png"
        atomic_write_bytes(path, mask_png_bytes(mask))
        png_paths.append(path)
    records = masks_to_coco_rle(masks, scores) if len(masks) else []
    for record, path in zip(records, png_paths, strict=True):
        record["png"] = path.name
    document = {
        "format": FORMAT,
        "mode": mode,
        "image": {"key": image_key, "height": int(masks.shape[1]), "width": int(masks.shape[2])},
        "model": model,
        "prompts": prompts,
        "masks": records,
    }
    json_path = out / f"{stem}.json"
    atomic_write_text(json_path, json.dumps(document, indent=1) + "\n")
    return ExportedMasks(json_path, tuple(png_paths))


def export_prediction(out_dir, stem: str, prediction, model: dict) -> ExportedMasks:
    """A `SamPrediction` (all its candidate masks, best first is not implied: index = SAM's order)."""
    return export_masks(
        out_dir,
        stem,
        prediction.masks,
        prediction.scores,
        prompts=prediction.prompts.to_json(),
        image_key=prediction.image_key,
        model=model,
    )


def export_everything(out_dir, stem: str, result, model: dict) -> ExportedMasks:
    """An `EverythingResult` (largest mask first), with the generator settings in place of prompts."""
    from dataclasses import asdict

    model = {**model, "everything_settings": asdict(result.settings)}
    return export_masks(
        out_dir,
        stem,
        result.masks,
        result.scores,
        prompts=None,
        image_key=result.image_key,
        model=model,
        mode="everything",
    )


def read_export(json_path: str | Path) -> tuple[np.ndarray, dict]:
    """Read back an export: masks (N, H, W) bool decoded from the RLEs, and the JSON document."""
    document = json.loads(Path(json_path).read_text())
    if document.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not a {FORMAT} file (format = {document.get('format')!r})")
    image = document["image"]
    if not document["masks"]:
        return np.zeros((0, image["height"], image["width"]), bool), document
    return rle_to_masks(document["masks"]), document
