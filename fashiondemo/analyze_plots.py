"""The two figures of the dataset analysis (matplotlib, Agg backend; imported only by fashiondemo.analyze)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window (also works on machines without a display)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from fashiondemo.classes import PALETTE, label_of_category


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def plot_class_frequency(counts, path: Path, title: str, n_images: int) -> None:
    """Horizontal bars, most frequent category on top, each in its palette colour; log axis for long tails."""
    rows = sorted(counts, key=lambda c: (-c.instances, c.category_id))
    values = np.array([c.instances for c in rows])
    fig, ax = plt.subplots(figsize=(9, 11))
    y = np.arange(len(rows))
    colours = [PALETTE[label_of_category(c.category_id)] / 255 for c in rows]
    ax.barh(y, np.maximum(values, 0), color=colours, edgecolor="0.25", linewidth=0.5)
    ax.set_yticks(y, [f"{c.name} ({c.category_id})" for c in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)  # most frequent on top, no empty band above or below
    positive = values[values > 0]
    log = positive.size > 0 and positive.max() / positive.min() > 30
    if log:
        ax.set_xscale("log")
    ax.set_xlim(left=0.8 if log else 0, right=max(1, values.max()) * (3 if log else 1.15))
    for yi, value in zip(y, values, strict=True):
        ax.text(max(value, 0.85 if log else 0), yi, f" {value}", va="center", fontsize=7)
    ax.set_xlabel("instances (annotations, crowd included)" + (", log scale" if log else ""))
    total = int(values.sum())
    ax.set_title(f"Instances per category: {title}\n{n_images} images, {total} instances, "
                 f"{int((values == 0).sum())} categories absent", fontsize=10)  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def plot_size_distribution(sizes: np.ndarray, path: Path, title: str) -> None:
    """Width-vs-height scatter with a histogram of each on the margins. sizes: Nx2 (width, height)."""
    fig = plt.figure(figsize=(7, 7))
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), hspace=0.05, wspace=0.05)
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    widths, heights = sizes[:, 0], sizes[:, 1]
    alpha = 0.7 if len(sizes) < 500 else 0.15
    ax.scatter(
        widths, heights, s=12 if len(sizes) >= 100 else 30, alpha=alpha, color="tab:blue", edgecolors="none"
    )
    if len(sizes):
        limit = max(widths.max(), heights.max()) * 1.05
        ax.plot([0, limit], [0, limit], color="0.6", linestyle="--", linewidth=0.8, label="square")
        ax.set_xlim(0, limit)
        ax.set_ylim(0, limit)
        ax.legend(loc="lower right", fontsize=8)
    bins = min(40, max(5, len(sizes) // 2))
    top.hist(widths, bins=bins, color="tab:blue", alpha=0.8)
    right.hist(heights, bins=bins, orientation="horizontal", color="tab:orange", alpha=0.8)
    # integer counts, and no "0" tick that would run into the main axis' last label
    top.yaxis.set_major_locator(MaxNLocator(3, integer=True, prune="lower"))
    right.xaxis.set_major_locator(MaxNLocator(3, integer=True, prune="lower"))
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("images")
    right.set_xlabel("images")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.grid(alpha=0.3)
    top.set_title(f"Image sizes: {title} ({len(sizes)} images)\nfrom the json's width/height", fontsize=10)
    _save(fig, path)
