"""The app's named API endpoints (ocrnet, sam, compare, everything) as plain functions: files and JSON in,
arrays and JSON out. Stateless: each call builds a throw-away `Session`, so API users never share state; the
models (and SAM's per-image embedding cache) are shared, so repeat calls on one image skip the encoder.

Prompts JSON: {"points": [[x, y], ...], "labels": [1, 0, ...], "box": [x0, y0, x1, y1], "multimask": true}
in the image's pixels (labels default to all positive).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from fashiondemo import compare, handlers
from fashiondemo.images import ImageLoadError
from fashiondemo.services import ModelHub
from fashiondemo.session import Prompts, Session
from fashiondemo.sources import ExampleLibrary, FashionpediaBrowser, ImageRecord, load_upload

MAX_PROMPT_JSON_CHARS = 100_000


def parse_prompts(text: str | dict | None) -> tuple[Prompts, bool]:
    """Prompts and the multimask flag from the API's JSON (a string or an already-parsed dict)."""
    if text is None or text == "":
        return Prompts(), True
    if isinstance(text, str):
        if len(text) > MAX_PROMPT_JSON_CHARS:
            raise handlers.UserError(
                f"prompts JSON is {len(text)} characters; the limit is {MAX_PROMPT_JSON_CHARS}"
            )
        try:
            text = json.loads(text)
        except json.JSONDecodeError as exc:
            raise handlers.UserError(f"prompts are not valid JSON: {exc}") from exc
        except RecursionError as exc:  # e.g. "[[[[..." 50,000 deep: fits the size limit, breaks the parser
            raise handlers.UserError("prompts are not valid JSON: nested too deeply") from exc
    if not isinstance(text, dict):
        raise handlers.UserError('prompts must be a JSON object like {"points": [[x, y]], "labels": [1]}')
    unknown = set(text) - {"points", "labels", "box", "multimask"}
    if unknown:
        raise handlers.UserError(f"unknown prompt keys {sorted(unknown)}; use points, labels, box, multimask")
    try:
        points = tuple((float(x), float(y)) for x, y in text.get("points") or ())
        labels = tuple(int(v) for v in text.get("labels") or [1] * len(points))
        box = text.get("box")
        box = None if box is None else tuple(float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise handlers.UserError(
            f"prompts: points must be [[x, y], ...], box [x0, y0, x1, y1] ({exc})"
        ) from exc
    if box is not None and len(box) != 4:
        raise handlers.UserError(f"box needs 4 numbers x0, y0, x1, y1, got {len(box)}")
    if len(labels) != len(points):
        raise handlers.UserError(f"{len(points)} points but {len(labels)} labels")
    return Prompts(points, labels, box), bool(text.get("multimask", True))


def load_record(
    image_path: str | None,
    source: str | None,
    examples: ExampleLibrary,
    fashionpedia: FashionpediaBrowser | None,
) -> ImageRecord:
    """The image to work on: a bundled example or Fashionpedia image by name (with GT), else the upload."""
    source = (source or "").strip()
    try:
        if source.startswith("fashionpedia:"):
            if fashionpedia is None:
                raise handlers.UserError("no Fashionpedia root configured (--fashionpedia-root)")
            ident = source.removeprefix("fashionpedia:").strip()
            if not ident.isdigit():
                raise handlers.UserError(f"source {source!r}: expected fashionpedia:<image id>, a number")
            return fashionpedia.load(int(ident))
        if source:
            return examples.load(source)
        if not image_path:
            raise handlers.UserError("give an image file or a source (an example name or fashionpedia:<id>)")
        return load_upload(image_path)
    except (ImageLoadError, ValueError, KeyError) as exc:
        if isinstance(exc, handlers.UserError):
            raise
        raise handlers.UserError(str(exc)) from exc


def _session(record: ImageRecord, prompts: Prompts | None = None, multimask: bool = True) -> Session:
    session = Session(multimask=multimask)
    session.set_record(record)
    session.prompts = prompts or Prompts()
    return session


def ocrnet(hub: ModelHub, record: ImageRecord) -> tuple[np.ndarray, dict]:
    """HxW uint8 label map (lossless PNG on the wire) and its legend."""
    session = _session(record)
    handlers.run_ocrnet(session, hub)
    if session.ocrnet_map is None:
        raise handlers.UserError(session.ocrnet_error or "OCRNet produced no prediction")
    from fashiondemo.masks import legend

    info = {
        "height": int(session.ocrnet_map.shape[0]),
        "width": int(session.ocrnet_map.shape[1]),
        "random_weights": hub.random_weights,
        "labels": "0 = background, k = Fashionpedia category_id + 1",
        "legend": [
            {"label": e.label, "name": e.name, "share": round(e.share, 6)} for e in legend(session.ocrnet_map)
        ],
    }
    return session.ocrnet_map, info


def sam(hub: ModelHub, record: ImageRecord, prompts_json) -> tuple[np.ndarray, dict]:
    """The best mask as HxW uint8 (255 = mask) and every candidate's score + COCO RLE."""
    from fashiondemo.masks import masks_to_coco_rle

    prompts, multimask = parse_prompts(prompts_json)
    if prompts.empty:
        raise handlers.UserError("give at least one point or a box")
    session = _session(record, prompts, multimask)
    handlers.run_sam(session, hub)
    info = {
        "height": int(session.sam_masks.shape[1]),
        "width": int(session.sam_masks.shape[2]),
        "random_weights": hub.random_weights,
        "prompts": prompts.to_json(),
        "best_index": session.chosen,
        "scores": [round(float(s), 6) for s in session.sam_scores],
        "masks": masks_to_coco_rle(session.sam_masks, session.sam_scores),
    }
    return np.where(session.chosen_mask, 255, 0).astype(np.uint8), info


def compare_all(
    hub: ModelHub, record: ImageRecord, prompts_json
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """All three panels (OCRNet, SAM with prompts, GT) and the per-image numbers as JSON."""
    prompts, multimask = parse_prompts(prompts_json)
    session = _session(record, prompts, multimask)
    handlers.run_ocrnet(session, hub)
    info: dict = {"random_weights": hub.random_weights, "image": record.title, "prompts": prompts.to_json()}
    if not prompts.empty:
        handlers.run_sam(session, hub)
        info["sam_scores"] = [round(float(s), 6) for s in session.sam_scores]
    look = handlers.Look()
    ocrnet_picture, _ = handlers.ocrnet_view(session, hub, look)
    gt_picture, _ = handlers.gt_view(session, look)
    rows, _ = handlers.metrics_view(session)
    info["ocrnet_error"] = session.ocrnet_error
    info["metrics"] = {"header": ["label", "class", "IoU", "Acc"], "rows": rows}
    if session.ocrnet_map is not None and record.gt is not None:
        m = compare.ocrnet_vs_gt(session.ocrnet_map, record.gt)
        info["metrics"].update(mIoU=round(m.miou, 4), mAcc=round(m.macc, 4), aAcc=round(m.aacc, 4))
    if session.chosen_mask is not None:
        if record.gt is not None:
            info["sam_vs_gt"] = asdict(compare.sam_vs_gt(session.chosen_mask, record.gt))
        if session.ocrnet_map is not None:
            info["sam_labelled_by_ocrnet"] = asdict(
                compare.label_mask_by_ocrnet(session.chosen_mask, session.ocrnet_map)
            )
    return ocrnet_picture, handlers.sam_view(session, hub, look), gt_picture, info


def everything(hub: ModelHub, record: ImageRecord) -> tuple[np.ndarray, dict]:
    """Everything mode: the masks drawn over the image, and each mask's box, score and area."""
    session = _session(record)
    hub_sam = hub.sam.get()
    result = hub_sam.everything(record.rgb)
    session.everything_masks = result.masks
    info = {
        "random_weights": hub.random_weights,
        "count": len(result),
        "masks": [
            {"box": [round(float(v), 1) for v in box], "score": round(float(s), 6), "area": int(m.sum())}
            for box, s, m in zip(result.boxes, result.scores, result.masks, strict=True)
        ],
    }
    return handlers.sam_view(session, hub, handlers.Look()), info
