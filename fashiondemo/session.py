"""One user's state in the app: the image, its ground truth, the SAM prompts and the latest results (pure).

Lives in a ``gr.State`` (Gradio keeps one copy per browser session), so two users never share prompts or
masks. Models are shared process-wide and keyed by image hash; nothing here refers to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fashiondemo.sources import ImageRecord

POSITIVE, NEGATIVE, BOX = "positive point", "negative point", "box (two clicks)"
CLICK_MODES = (POSITIVE, NEGATIVE, BOX)


@dataclass(frozen=True)
class Prompts:
    """SAM prompts in original-image pixels: points (N, 2) as lists, labels 1/0, box x0, y0, x1, y1."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    pending_corner: tuple[float, float] | None = None  # first click of a box awaiting its second

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    def to_json(self) -> dict:
        return {"points": [list(p) for p in self.points], "labels": list(self.labels), "box": self.box}


@dataclass
class Session:
    """Everything one browser tab has done since its image arrived."""

    record: ImageRecord | None = None
    ocrnet_map: np.ndarray | None = None  # HxW uint8 labels for `record`
    ocrnet_error: str | None = None
    prompts: Prompts = field(default_factory=Prompts)
    history: list[Prompts] = field(default_factory=list)  # earlier prompt sets, for undo
    multimask: bool = True
    sam_masks: np.ndarray | None = None  # (C, H, W) bool candidates for the current prompts
    sam_scores: np.ndarray | None = None  # (C,) predicted IoU
    sam_logits: np.ndarray | None = None  # (C, 256, 256): the chosen one refines the next click
    chosen: int = 0
    everything_masks: np.ndarray | None = None  # (N, H, W) bool from everything mode
    everything_scores: np.ndarray | None = None  # (N,) predicted IoU
    study: object | None = None  # compare.BoxStudy of the last GT-box / OCRNet-region run
    study_name: str = ""

    # ---- image -------------------------------------------------------------------------------------------
    def set_record(self, record: ImageRecord) -> None:
        """A new image: forget every result and prompt that belonged to the previous one."""
        self.record = record
        self.ocrnet_map = None
        self.ocrnet_error = None
        self.clear_prompts()
        self.history.clear()

    @property
    def shape(self) -> tuple[int, int]:
        if self.record is None:
            raise ValueError("no image yet: upload one, pick an example or load a Fashionpedia image")
        return self.record.rgb.shape[:2]

    # ---- prompts -----------------------------------------------------------------------------------------
    def _push(self, prompts: Prompts) -> None:
        self.history.append(self.prompts)
        self.prompts = prompts

    def click(self, x: float, y: float, mode: str) -> bool:
        """Apply one click on the image in ``mode``; True when the prompts changed enough to ask SAM again
        (a first box corner only waits for the second)."""
        h, w = self.shape
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"click at ({x:.0f}, {y:.0f}) is outside the {w}x{h} image")
        p = self.prompts
        if mode == BOX:
            if p.pending_corner is None:
                self._push(Prompts(p.points, p.labels, p.box, (x, y)))
                return False
            (x0, y0), (x1, y1) = p.pending_corner, (x, y)
            box = (min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1)  # exclusive far edge
            self._push(Prompts(p.points, p.labels, box, None))
            return True
        if mode not in (POSITIVE, NEGATIVE):
            raise ValueError(f"unknown click mode {mode!r}; choose from {CLICK_MODES}")
        label = 1 if mode == POSITIVE else 0
        self._push(Prompts((*p.points, (x, y)), (*p.labels, label), p.box, None))
        return True

    def undo(self) -> bool:
        """Back to the previous prompt set; False when there is nothing to undo."""
        if not self.history:
            return False
        self.prompts = self.history.pop()
        self._forget_masks()
        return True

    def clear_prompts(self) -> None:
        if not self.prompts.empty or self.prompts.pending_corner is not None:
            self.history.append(self.prompts)
        self.prompts = Prompts()
        self._forget_masks()
        self.everything_masks = self.everything_scores = None
        self.study = None

    def _forget_masks(self) -> None:
        self.sam_masks = self.sam_scores = self.sam_logits = None
        self.chosen = 0

    # ---- SAM results -------------------------------------------------------------------------------------
    def refine_input(self) -> np.ndarray | None:
        """(1, 256, 256) logits of the chosen mask, fed back with the next click as the official demo does.
        Only after a point click: a new box starts afresh (its own logits would fight the new box)."""
        if self.sam_logits is None or (self.prompts.box is not None and not self.prompts.points):
            return None
        return self.sam_logits[self.chosen][None]

    def set_sam(self, masks: np.ndarray, scores: np.ndarray, logits: np.ndarray) -> None:
        self.sam_masks, self.sam_scores, self.sam_logits = masks, scores, logits
        self.chosen = int(np.argmax(scores))

    @property
    def chosen_mask(self) -> np.ndarray | None:
        return None if self.sam_masks is None else self.sam_masks[self.chosen]
