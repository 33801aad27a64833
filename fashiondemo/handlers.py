"""What the app does on each user action, without any UI code (app.py only wires these to components).

Each function takes the user's `Session`, the shared `ModelHub` and plain values, updates the session and
returns plain results (numpy pictures, rows, markdown). Failures a user can fix come back as `UserError`
(shown as a warning, the session unchanged); a model that cannot run puts its reason in its own panel and
never stops the other model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from fashiondemo import compare
from fashiondemo import masks as mk
from fashiondemo.memory import release_freed_memory
from fashiondemo.services import ModelHub, ModelUnavailable
from fashiondemo.session import Session

Progress = Callable[[float, str], None]


class UserError(ValueError):
    """Something the user can fix (bad click, bad file, no image yet); the message says what."""


def _no_progress(fraction: float, desc: str = "") -> None:
    return None


@dataclass(frozen=True)
class Look:
    """How panels are drawn: overlay opacity and the class labels the user hid."""

    alpha: float = 0.5
    hidden: tuple[int, ...] = ()

    @staticmethod
    def of(alpha: float | None, hidden_names: Iterable[str] | None) -> Look:
        from fashiondemo.classes import CLASS_NAMES

        index = {name: i for i, name in enumerate(CLASS_NAMES)}
        hidden = tuple(index[n] for n in hidden_names or () if n in index)
        return Look(0.5 if alpha is None else float(alpha), hidden)


# ---- image arrival ---------------------------------------------------------------------------------------
def run_ocrnet(session: Session, hub: ModelHub, progress: Progress = _no_progress) -> None:
    """OCRNet's label map for the session's image (kept in the session), or the reason it cannot run."""
    if session.record is None or session.ocrnet_map is not None:
        return
    progress(0.1, "OCRNet: loading the model" if hub.ocrnet.loaded is None else "OCRNet: segmenting")
    try:
        model = hub.ocrnet.get()
        progress(0.5, "OCRNet: segmenting")
        session.ocrnet_map = model.predict(session.record.rgb)
        session.ocrnet_error = None
        release_freed_memory()
    except ModelUnavailable as exc:
        session.ocrnet_error = str(exc)


def precompute_sam(session: Session, hub: ModelHub, progress: Progress = _no_progress) -> str:
    """Start SAM's image embedding as soon as the image arrives, so the first click costs only the decoder."""
    if session.record is None:
        return ""
    progress(0.1, "SAM: loading the model" if hub.sam.loaded is None else "SAM: embedding the image")
    try:
        sam = hub.sam.get()
        progress(0.4, "SAM: embedding the image")
        sam.precompute(session.record.rgb)
        release_freed_memory()
    except ModelUnavailable as exc:
        return str(exc)
    return "SAM: image embedded; clicks now cost only the mask decoder."


# ---- prompts ---------------------------------------------------------------------------------------------
def click(session: Session, hub: ModelHub, x: float, y: float, mode: str) -> None:
    """One click on the SAM panel in ``mode``: extend the prompts and ask SAM again (a box's first corner
    only waits for the second)."""
    try:
        ready = session.click(x, y, mode)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if ready:
        run_sam(session, hub)


def run_sam(session: Session, hub: ModelHub) -> None:
    """Masks for the session's current prompts (multimask or single), refined from the last chosen mask."""
    p = session.prompts
    if session.record is None or p.empty:
        return
    from fashiondemo.sam_prompts import PromptError

    sam = hub.sam.get()  # ModelUnavailable propagates: the SAM panel shows it
    try:
        pred = sam.predict(
            session.record.rgb,
            points=np.asarray(p.points, np.float32) if p.points else None,
            labels=np.asarray(p.labels, np.int32) if p.points else None,
            box=np.asarray(p.box, np.float32) if p.box is not None else None,
            multimask=session.multimask and len(p.points) + (p.box is not None) == 1,
            mask_input=session.refine_input(),
        )
    except PromptError as exc:
        session.undo()
        raise UserError(str(exc)) from exc
    if not pred.embedding_cached:  # the encoder ran: hand its activations' memory back
        release_freed_memory()
    session.set_sam(pred.masks, pred.scores, pred.low_res_logits)


def everything(session: Session, hub: ModelHub, progress: Progress = _no_progress) -> int:
    """Everything mode on the session's image; returns the number of masks found."""
    if session.record is None:
        raise UserError("no image yet: upload one, pick an example or load a Fashionpedia image")
    sam = hub.sam.get()
    result = sam.everything(session.record.rgb, progress=lambda f: progress(f, "SAM everything mode"))
    session.everything_masks, session.everything_scores = result.masks, result.scores
    return len(result)


def study(session: Session, hub: ModelHub, kind: str, progress: Progress = _no_progress) -> compare.BoxStudy:
    """Prompt SAM with every GT instance's box ("gt") or every OCRNet class region's box ("ocrnet")."""
    if session.record is None:
        raise UserError("no image yet: upload one, pick an example or load a Fashionpedia image")
    rgb, gt = session.record.rgb, session.record.gt
    sam = hub.sam.get()
    report = lambda f: progress(f, "SAM box prompts")  # noqa: E731
    if kind == "gt":
        if gt is None:
            raise UserError(
                "this image has no ground truth: pick a synthetic example or a Fashionpedia image"
            )
        result, name = compare.prompt_with_gt_boxes(sam, rgb, gt, report), "SAM prompted with GT boxes"
    else:
        run_ocrnet(session, hub)
        if session.ocrnet_map is None:
            raise UserError(session.ocrnet_error or "OCRNet has no prediction for this image")
        result = compare.prompt_with_ocrnet_regions(sam, rgb, session.ocrnet_map, gt, progress=report)
        name = "SAM prompted with OCRNet's class regions"
    session.study, session.study_name = result, name
    return result


# ---- views -----------------------------------------------------------------------------------------------
def legend_html(entries: list[mk.LegendEntry], title: str) -> str:
    """Colour swatch, class name and pixel share per class present (largest first)."""
    if not entries:
        return f"<div class='legend'><b>{title}</b>: no classes present</div>"
    rows = "".join(
        f"<span class='legend-item'><span class='swatch' style='background:rgb{tuple(e.rgb)}'></span>"
        f"{e.name} <small>{100 * e.share:.1f}%</small></span>"
        for e in entries
    )
    return f"<div class='legend'><b>{title}</b> {rows}</div>"


def ocrnet_view(session: Session, hub: ModelHub, look: Look) -> tuple[np.ndarray | None, str]:
    """OCRNet panel picture and its legend (or the reason it is empty)."""
    if session.record is None:
        return None, ""
    if session.ocrnet_map is None:
        return (
            session.record.rgb,
            f"<div class='panel-msg'>{session.ocrnet_error or 'OCRNet: working...'}</div>",
        )
    picture, entries = compare.ocrnet_panel(
        session.record.rgb,
        session.ocrnet_map,
        alpha=look.alpha,
        hidden=look.hidden,
        random_weights=hub.random_weights,
    )
    return picture, legend_html(entries, "OCRNet")


def gt_view(session: Session, look: Look) -> tuple[np.ndarray | None, str]:
    if session.record is None:
        return None, ""
    picture, entries = compare.gt_panel(
        session.record.rgb, session.record.gt, alpha=look.alpha, hidden=look.hidden
    )
    if picture is None:
        return (
            None,
            "<div class='panel-msg'>No ground truth: this image is not from a Fashionpedia json.</div>",
        )
    return picture, legend_html(entries, f"Ground truth ({session.record.gt.source})")


def sam_view(session: Session, hub: ModelHub, look: Look) -> np.ndarray | None:
    if session.record is None:
        return None
    p = session.prompts
    if session.study is not None and session.study.rows:
        masks = session.study.masks()
    elif session.everything_masks is not None:
        masks = session.everything_masks
    else:
        masks = None if session.chosen_mask is None else session.chosen_mask[None]
    return compare.sam_panel(
        session.record.rgb,
        masks,
        points=list(p.points),
        labels=list(p.labels),
        box=p.box,
        pending_corner=p.pending_corner,
        alpha=look.alpha,
        random_weights=hub.random_weights,
    )


def candidate_choices(session: Session) -> tuple[list[str], str | None]:
    """Radio choices "mask i (score)" for SAM's candidates and the chosen one."""
    if session.sam_scores is None:
        return [], None
    choices = [f"mask {i + 1} (score {s:.3f})" for i, s in enumerate(session.sam_scores)]
    return choices, choices[session.chosen]


def choose_candidate(session: Session, choice: str | None) -> None:
    if choice and session.sam_scores is not None:
        session.chosen = int(choice.split()[1]) - 1


def sam_numbers(session: Session) -> str:
    """Markdown: the chosen SAM mask against GT (best instance, its class) and labelled by OCRNet."""
    mask = session.chosen_mask
    if session.record is None or mask is None:
        return "Click on the SAM panel to prompt it (mode above), or run everything mode."
    lines = [f"**SAM mask**: {int(mask.sum())} px, predicted IoU {session.sam_scores[session.chosen]:.3f}"]
    gt = session.record.gt
    if gt is not None:
        match = compare.sam_vs_gt(mask, gt)
        if match.instance_ann_id is None:
            lines.append("- overlaps no ground-truth instance")
        else:
            lines.append(
                f"- best GT instance: #{match.instance_ann_id} *{match.instance_name}*, IoU "
                f"{100 * match.instance_iou:.1f}%; IoU with all GT *{match.instance_name}* pixels "
                f"{100 * match.class_iou:.1f}%"
            )
    if session.ocrnet_map is not None:
        major = compare.label_mask_by_ocrnet(mask, session.ocrnet_map)
        if major.label is not None:
            lines.append(f"- labelled by OCRNet: *{major.name}* ({100 * major.share:.0f}% of the mask)")
    return "\n".join(lines)


def metrics_view(session: Session) -> tuple[list[list], str]:
    """Rows (label, class, IoU %, Acc %) of OCRNet vs GT for this image, and a summary line."""
    if session.record is None:
        return [], ""
    if session.record.gt is None:
        return [], "No ground truth for this image, so no per-image metrics."
    if session.ocrnet_map is None:
        return [], "OCRNet has no prediction yet (see its panel)."
    metrics = compare.ocrnet_vs_gt(session.ocrnet_map, session.record.gt)
    summary = f"**This image**: mIoU {metrics.miou:.2f} · mAcc {metrics.macc:.2f} · aAcc {metrics.aacc:.2f}"
    return metrics.to_rows(), summary


def study_view(session: Session) -> tuple[list[list], str]:
    result = session.study
    if result is None:
        return [], ""
    mean = result.mean_iou
    mean_text = "n/a (no ground truth)" if np.isnan(mean) else f"{100 * mean:.1f}%"
    return result.table(), f"**{session.study_name}**: {len(result.rows)} prompts, mean IoU {mean_text}"
