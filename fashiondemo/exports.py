"""The app's Export button: the session's SAM masks (PNG + COCO RLE json with their prompts), OCRNet's label
map (lossless PNG) and the per-image metrics (CSV), written atomically into a fresh folder per export.

Folders live under one temp directory and are removed after an hour (Gradio copies what it serves into its
own cache, which it also expires), so a long-running Space does not fill its disk.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from fashiondemo import compare
from fashiondemo.digests import atomic_write_bytes, atomic_write_text
from fashiondemo.handlers import UserError
from fashiondemo.sam_export import export_masks
from fashiondemo.services import ModelHub
from fashiondemo.session import Session

EXPORT_ROOT = Path(tempfile.gettempdir()) / "fashiondemo-exports"
KEEP_SECONDS = 3600


def _expire_old(root: Path, keep_seconds: float) -> None:
    now = time.time()
    for folder in root.glob("*"):
        if folder.is_dir() and now - folder.stat().st_mtime > keep_seconds:
            shutil.rmtree(folder, ignore_errors=True)


def _label_png(label_map: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(label_map.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def export_session(session: Session, hub: ModelHub, root: Path = EXPORT_ROOT) -> list[Path]:
    """Write what the session shows; returns the files (mask PNGs, masks json, label PNG, metrics CSV)."""
    if session.record is None:
        raise UserError("nothing to export yet: load an image first")
    root.mkdir(parents=True, exist_ok=True)
    _expire_old(root, KEEP_SECONDS)
    out = root / uuid.uuid4().hex
    out.mkdir()
    tag = "_RANDOM-WEIGHTS" if hub.random_weights else ""
    written: list[Path] = []
    sam = hub.sam.loaded
    model = {"sam": sam.describe() if sam is not None else None, "random_weights": hub.random_weights}
    masks, scores, prompts, mode = _sam_masks(session)
    if masks is not None:
        result = export_masks(
            out,
            f"sam{tag}",
            masks,
            scores,
            prompts=prompts,
            image_key=_image_key(session),
            model=model,
            mode=mode,
        )
        written += [*result.png_paths, result.json_path]
    if session.ocrnet_map is not None:
        path = out / f"ocrnet_labels{tag}.png"
        atomic_write_bytes(path, _label_png(session.ocrnet_map))
        written.append(path)
        if session.record.gt is not None:
            path = out / f"ocrnet_vs_gt{tag}.csv"
            atomic_write_text(path, compare.ocrnet_vs_gt(session.ocrnet_map, session.record.gt).to_csv())
            written.append(path)
    if not written:
        raise UserError("nothing to export yet: prompt SAM or wait for OCRNet's prediction")
    return written


def _image_key(session: Session) -> str:
    from fashiondemo.sam_cache import image_key

    return image_key(session.record.rgb)


def _sam_masks(session: Session):
    """The masks on screen: the study's, everything mode's or the chosen prompt mask, with provenance."""
    if session.study is not None and session.study.rows:
        rows = session.study.rows
        return (
            session.study.masks(),
            np.array([r.score for r in rows]),
            {"study": session.study_name, "boxes": [list(r.box) for r in rows]},
            "prompt",
        )
    if session.everything_masks is not None:
        return session.everything_masks, session.everything_scores, None, "everything"
    if session.chosen_mask is not None:
        score = session.sam_scores[session.chosen : session.chosen + 1]
        return session.chosen_mask[None], score, session.prompts.to_json(), "prompt"
    return None, None, None, None
