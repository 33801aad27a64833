"""One image, three parsers: the panels and per-image numbers the app and the review page show (pure).

Takes what the models already produced (an OCRNet label map, SAM masks) plus the ground truth, and returns
pictures and plain rows. The SAM-driven studies (prompting SAM with GT boxes or with OCRNet's regions) take
any object with SamSegmenter's ``predict(rgb, box=..., multimask=False)``, so this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from fashiondemo import masks as mk
from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES
from fashiondemo.metrics import best_matching_instance, image_scores, mask_iou

RANDOM_WEIGHTS_BANNER = "RANDOM WEIGHTS - development only, outputs are meaningless"


@dataclass
class GroundTruth:
    """Fashionpedia ground truth of one image: the 47-class map (HxW uint8, 255 = crowd/ignore) and instances
    (``fashionpedia.Instance``: ann_id, category_id, label, name, mask HxW bool, bbox xywh, iscrowd, ...)."""

    label_map: np.ndarray
    instances: list = field(default_factory=list)
    source: str = ""

    @property
    def solid_instances(self) -> list:
        return [inst for inst in self.instances if not inst.iscrowd]

    def instance_masks(self) -> np.ndarray:
        """(N, H, W) bool masks of the non-crowd instances, in ``solid_instances`` order."""
        inst = self.solid_instances
        if not inst:
            return np.zeros((0, *self.label_map.shape), dtype=bool)
        return np.stack([i.mask for i in inst])


def stamp_banner(rgb: np.ndarray, text: str = RANDOM_WEIGHTS_BANNER) -> np.ndarray:
    """A copy of ``rgb`` (HxWx3 uint8) with a red band and white ``text`` across its top.

    A picture made with random weights can then never be mistaken for a real result, even saved on its own.
    """
    out = rgb.copy()
    h, w = out.shape[:2]
    band = max(14, min(h // 12, 40))
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = band / 40
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
    if tw > w - 8:  # shrink to fit narrow images rather than clip the warning
        scale *= (w - 8) / tw
    out[: min(band, h)] = (200, 20, 20)
    cv2.putText(
        out, text, (4, min(band, h) - band // 3), font, scale, (255, 255, 255), thickness, cv2.LINE_AA
    )
    return out


def _maybe_banner(rgb: np.ndarray, random_weights: bool) -> np.ndarray:
    return stamp_banner(rgb) if random_weights else rgb


def visible_labels(hidden: Iterable[int] = ()) -> list[int]:
    """Labels to draw when the user hid ``hidden`` (class labels 1..46); ignore (255) stays visible."""
    hidden = set(int(h) for h in hidden)
    return [lab for lab in (*range(1, NUM_CLASSES), IGNORE_INDEX) if lab not in hidden]


# ---- panels ------------------------------------------------------------------------------------------------
def ocrnet_panel(
    rgb: np.ndarray,
    label_map: np.ndarray,
    *,
    alpha: float = 0.5,
    hidden: Iterable[int] = (),
    random_weights: bool = False,
) -> tuple[np.ndarray, list[mk.LegendEntry]]:
    """OCRNet's label map blended over the photo, and the legend of the classes present (largest first)."""
    picture = mk.overlay(rgb, label_map, alpha, visible_labels(hidden))
    return _maybe_banner(picture, random_weights), mk.legend(label_map)


def gt_panel(
    rgb: np.ndarray, gt: GroundTruth | None, *, alpha: float = 0.5, hidden: Iterable[int] = ()
) -> tuple[np.ndarray | None, list[mk.LegendEntry]]:
    """GT semantic colours plus every instance's outline (in its class colour); None when there is no GT."""
    if gt is None:
        return None, []
    picture = mk.overlay(rgb, gt.label_map, alpha, visible_labels(hidden))
    hidden = set(int(h) for h in hidden)
    shown = [inst for inst in gt.instances if inst.label not in hidden]
    if shown:
        colours = np.array([mk.colorize(np.array([[inst.label]]))[0, 0] for inst in shown])
        picture = mk.draw_contours(picture, np.stack([inst.mask for inst in shown]), colours, thickness=2)
    return picture, mk.legend(gt.label_map)


def sam_panel(
    rgb: np.ndarray,
    masks: np.ndarray | None,
    *,
    points: Sequence | None = None,
    labels: Sequence | None = None,
    box: Sequence[float] | None = None,
    pending_corner: Sequence[float] | None = None,
    alpha: float = 0.5,
    random_weights: bool = False,
) -> np.ndarray:
    """SAM's mask(s) (NxHxW bool, or None) over the photo with the prompts drawn on top.

    ``pending_corner`` is the first click of a box still waiting for its second corner (drawn as a small box).
    """
    picture = rgb if masks is None or len(masks) == 0 else mk.overlay_binary_masks(rgb, masks, alpha)
    if pending_corner is not None:
        x, y = pending_corner
        picture = mk.draw_prompts(picture, box=(x - 3, y - 3, x + 4, y + 4))
    picture = mk.draw_prompts(picture, points if points else None, labels if labels else None, box)
    return _maybe_banner(picture, random_weights)


# ---- numbers -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassRow:
    label: int
    name: str
    iou: float  # percent, NaN where undefined
    acc: float  # percent, NaN where undefined (class only predicted)


@dataclass(frozen=True)
class ImageMetrics:
    """OCRNet vs GT on one image: rows for the classes present in either, and the image's mIoU/mAcc/aAcc."""

    rows: tuple[ClassRow, ...]
    miou: float
    macc: float
    aacc: float

    def to_rows(self) -> list[list]:
        """Rows for a table: label, class, IoU %, Acc % (rounded, NaN as None)."""
        return [[r.label, r.name, _round(r.iou), _round(r.acc)] for r in self.rows]

    def to_csv(self) -> str:
        lines = ["label,class,IoU,Acc"]
        for label, name, iou, acc in self.to_rows():
            lines.append(f'{label},"{name}",{"nan" if iou is None else iou},{"nan" if acc is None else acc}')
        lines.append(f",mIoU,{_round(self.miou)},")
        lines.append(f",mAcc,,{_round(self.macc)}")
        lines.append(f",aAcc,,{_round(self.aacc)}")
        return "\n".join(lines) + "\n"


def _round(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 2)


def ocrnet_vs_gt(label_map: np.ndarray, gt: GroundTruth) -> ImageMetrics:
    """Per-class IoU/Acc of OCRNet's map against the GT map on this image (split-metric definitions)."""
    scores = image_scores(label_map, gt.label_map)
    rows = tuple(
        ClassRow(lab, CLASS_NAMES[lab], 100 * iou, 100 * acc)
        for lab, iou, acc in zip(scores.labels, scores.iou, scores.acc, strict=True)
    )
    return ImageMetrics(rows=rows, miou=scores.miou, macc=scores.macc, aacc=scores.aacc)


@dataclass(frozen=True)
class SamVsGt:
    """How one SAM mask meets the GT: its best instance (IoU) and that instance's whole class region (IoU)."""

    instance_ann_id: int | None
    instance_name: str | None
    instance_iou: float
    class_label: int | None
    class_iou: float


def sam_vs_gt(mask: np.ndarray, gt: GroundTruth) -> SamVsGt:
    """Best-matching GT instance of a SAM mask (HxW bool) and the IoU with that instance's class region."""
    solid = gt.solid_instances
    index, iou = best_matching_instance(mask, gt.instance_masks())
    if index is None:
        return SamVsGt(None, None, 0.0, None, 0.0)
    inst = solid[index]
    return SamVsGt(inst.ann_id, inst.name, iou, inst.label, mask_iou(mask, gt.label_map == inst.label))


@dataclass(frozen=True)
class MajorityLabel:
    """OCRNet's majority class under a SAM mask ("SAM mask labelled by OCRNet") and its share of the mask."""

    label: int | None
    name: str | None
    share: float


def label_mask_by_ocrnet(mask: np.ndarray, label_map: np.ndarray) -> MajorityLabel:
    """Majority OCRNet label (background included) among the pixels of a SAM mask (HxW bool)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != label_map.shape:
        raise ValueError(f"mask is {mask.shape} but the label map is {label_map.shape}")
    votes = np.bincount(label_map[mask].astype(np.int64), minlength=NUM_CLASSES)
    if votes.sum() == 0:
        return MajorityLabel(None, None, 0.0)
    label = int(np.argmax(votes))
    return MajorityLabel(label, CLASS_NAMES[label], float(votes[label] / votes.sum()))


# ---- SAM studies -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoxPromptRow:
    """One box prompt in a study: what it came from, the box (x0, y0, x1, y1), SAM's mask and its IoU."""

    source: str  # "GT #<ann_id> <class>" or "OCRNet <class>"
    label: int
    box: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)
    score: float
    iou: float | None  # vs the GT instance (oracle) or the GT class region (OCRNet regions); None without GT


@dataclass(frozen=True)
class BoxStudy:
    rows: tuple[BoxPromptRow, ...]

    @property
    def mean_iou(self) -> float:
        ious = [r.iou for r in self.rows if r.iou is not None]
        return float(np.mean(ious)) if ious else float("nan")

    def masks(self) -> np.ndarray:
        return np.stack([r.mask for r in self.rows]) if self.rows else np.zeros((0, 0, 0), dtype=bool)

    def table(self) -> list[list]:
        return [
            [r.source, list(r.box), round(r.score, 3), _round(None if r.iou is None else 100 * r.iou)]
            for r in self.rows
        ]


def _prompt_boxes(
    sam,
    rgb: np.ndarray,
    items: Sequence[tuple[str, int, tuple[int, int, int, int], np.ndarray | None]],
    progress: Callable[[float], None] | None,
) -> BoxStudy:
    rows = []
    for i, (source, label, box, reference) in enumerate(items):
        pred = sam.predict(rgb, box=np.asarray(box, dtype=np.float32), multimask=False)
        mask = pred.masks[0]
        iou = None if reference is None else mask_iou(mask, reference)
        rows.append(BoxPromptRow(source, label, box, mask, float(pred.scores[0]), iou))
        if progress is not None:
            progress((i + 1) / len(items))
    return BoxStudy(tuple(rows))


def prompt_with_gt_boxes(
    sam, rgb: np.ndarray, gt: GroundTruth, progress: Callable[[float], None] | None = None
) -> BoxStudy:
    """Oracle mode: each non-crowd GT instance's box as SAM's only prompt; IoU of each mask with its instance.

    This bounds what SAM can do when told exactly where each garment is (no classes involved).
    """
    items = []
    for inst in gt.solid_instances:
        box = mk.mask_to_box(inst.mask)
        if box is not None:
            items.append((f"GT #{inst.ann_id} {inst.name}", inst.label, box, inst.mask))
    return _prompt_boxes(sam, rgb, items, progress)


def prompt_with_ocrnet_regions(
    sam,
    rgb: np.ndarray,
    label_map: np.ndarray,
    gt: GroundTruth | None = None,
    *,
    min_pixels: int = 64,
    progress: Callable[[float], None] | None = None,
) -> BoxStudy:
    """The box of each class region OCRNet predicts (>= ``min_pixels``) as a SAM prompt; with GT, the IoU of
    SAM's mask with the GT region of that class (so you see whether SAM sharpens OCRNet's blobs)."""
    items = []
    for entry in mk.legend(label_map):
        region = label_map == entry.label
        if np.count_nonzero(region) < min_pixels:
            continue
        box = mk.mask_to_box(region)
        reference = None if gt is None else gt.label_map == entry.label
        items.append((f"OCRNet {entry.name}", entry.label, box, reference))
    return _prompt_boxes(sam, rgb, items, progress)
