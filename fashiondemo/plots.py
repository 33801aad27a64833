"""Figures of evaluation results: per-class IoU/Acc bars (optionally beside the seed's), confusion matrix.

matplotlib is imported inside the functions and driven through its object API with the Agg canvas (no pyplot,
no global backend switch), so importing this module stays light and it is safe to call from a server thread.
PNG files are written atomically (temp file in the same directory, then os.replace).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from fashiondemo.metrics import ConfusionMatrix
from fashiondemo.report_table import Table2

OURS_COLOUR = "#1f6fb4"
REFERENCE_COLOUR = "#f08a24"


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, out_path: str | os.PathLike) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".png", dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def per_class_bar_chart(
    table: Table2,
    out_path: str | os.PathLike,
    *,
    reference: Table2 | None = None,
    names: tuple[str, str] = ("ours", "seed (report)"),
    metric: str = "IoU",
    title: str | None = None,
) -> Path:
    """Horizontal bars of per-class ``metric`` ("IoU" or "Acc", percent) for all classes, label 0 on top.

    With ``reference``, each class gets a second bar beside ours. Classes that are NaN (absent from the split)
    get no bar and an "n/a" mark, so "never seen" is not confused with "0%". Returns the PNG path.
    """
    if metric not in ("IoU", "Acc"):
        raise ValueError(f"metric must be 'IoU' or 'Acc', got {metric!r}")
    if reference is not None and reference.class_names != table.class_names:
        raise ValueError("the reference table has different classes")
    ours = table.iou if metric == "IoU" else table.acc
    ref = None if reference is None else (reference.iou if metric == "IoU" else reference.acc)
    n = len(table.class_names)
    fig = _new_figure(9.0, 1.2 + 0.24 * n * (1.5 if ref is not None else 1.0))
    ax = fig.add_subplot()
    y = np.arange(n, dtype=float)
    height = 0.4 if ref is not None else 0.75
    offset = height / 2 if ref is not None else 0.0
    mean_ours = table.m_iou if metric == "IoU" else table.m_acc
    ax.barh(
        y - offset,
        np.nan_to_num(ours),
        height,
        color=OURS_COLOUR,
        label=f"{names[0]} (m{metric} {mean_ours:.2f})",
    )
    if ref is not None:
        mean_ref = reference.m_iou if metric == "IoU" else reference.m_acc
        label = f"{names[1]} (m{metric} {mean_ref:.2f})"
        ax.barh(y + offset, np.nan_to_num(ref), height, color=REFERENCE_COLOUR, label=label)
    for i in np.flatnonzero(np.isnan(ours)):
        ax.text(0.5, y[i] - offset, "n/a", va="center", fontsize=7, color="#666666")
    ax.axvline(mean_ours, color=OURS_COLOUR, linestyle="--", linewidth=1)
    if ref is not None:
        ax.axvline(mean_ref, color=REFERENCE_COLOUR, linestyle="--", linewidth=1)
    ax.set_yticks(y, [f"{i} {name}" for i, name in enumerate(table.class_names)], fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)  # label 0 at the top, as in the table
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{metric} (%)")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or _default_title(table, metric), fontsize=10)
    return _save_png(fig, out_path)


def _default_title(table: Table2, metric: str) -> str:
    meta = table.metadata
    parts = [f"Per-class {metric}"]
    if meta.get("split"):
        parts.append(f"split {meta['split']}")
    if meta.get("n_images") is not None:
        parts.append(f"{meta['n_images']} images")
    title = ", ".join(parts)
    if meta.get("random_weights"):
        title += "  [RANDOM WEIGHTS: not a trained model]"
    return title


def confusion_matrix_plot(
    cm: ConfusionMatrix,
    out_path: str | os.PathLike,
    *,
    class_names: tuple[str, ...] | None = None,
    title: str = "",
) -> Path:
    """Row-normalised confusion matrix (share of each GT class predicted as each class), log colour scale.

    Rows with no GT pixels stay blank. Returns the PNG path.
    """
    from matplotlib.colors import LogNorm

    from fashiondemo.classes import CLASS_NAMES

    names = class_names or CLASS_NAMES[: cm.num_classes]
    if len(names) != cm.num_classes:
        raise ValueError(f"{len(names)} class names for a {cm.num_classes}-class matrix")
    m = cm.matrix.astype(np.float64)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.full_like(m, np.nan), where=rows > 0)
    share[share == 0] = np.nan  # log scale: zero cells blank
    fig = _new_figure(11.0, 10.0)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="viridis", norm=LogNorm(vmin=1e-4, vmax=1.0), interpolation="nearest")
    ticks = np.arange(cm.num_classes)
    labels = [f"{i} {n[:18]}" for i, n in enumerate(names)]
    ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
    ax.set_yticks(ticks, labels, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of GT class pixels")
    ax.set_title(title or f"Confusion matrix ({cm.n_images} images, {cm.labelled_pixels:,} labelled pixels)")
    return _save_png(fig, out_path)
