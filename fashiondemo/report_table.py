"""The report's Table 2: per-class IoU and Acc for the 47 classes, then aAcc, mIoU, mAcc (pure).

Values are percentages. A class the split never shows (absent from GT, and for IoU also from the prediction)
has NaN, written ``nan`` in CSV, ``null`` in JSON and ``-`` in markdown; the means skip it, as mmseg does.
The seed's CSV (``fashiondemo/data/seed_table2.csv``: ``label,class,IoU,Acc``) has no NaN: its mIoU 14.93 and
mAcc 19.01 are the plain means of its 47 rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashiondemo.classes import CLASS_NAMES, NUM_CLASSES
from fashiondemo.metrics import ConfusionMatrix

SEED_TABLE_PATH = Path(__file__).resolve().parent / "data" / "seed_table2.csv"
CSV_COLUMNS = ("label", "class", "IoU", "Acc")


@dataclass(frozen=True)
class Table2:
    """Per-class ``iou``/``acc`` (num_classes,) float64 percent, NaN where undefined; summary in percent.

    ``a_acc`` may be None (the seed CSV does not carry the report's aAcc). ``metadata`` is free-form and
    JSON-able (checkpoint, split, n_images, random_weights, ...).
    """

    iou: np.ndarray
    acc: np.ndarray
    a_acc: float | None
    m_iou: float
    m_acc: float
    class_names: tuple[str, ...] = CLASS_NAMES
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.class_names)
        for name in ("iou", "acc"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) for {n} classes, got {values.shape}")
            object.__setattr__(self, name, values)

    @classmethod
    def from_confusion(cls, cm: ConfusionMatrix, metadata: dict | None = None) -> Table2:
        """Build from an accumulated matrix; ``n_images`` is added to the metadata."""
        if cm.num_classes != NUM_CLASSES:
            raise ValueError(f"Table 2 has {NUM_CLASSES} classes, the matrix has {cm.num_classes}")
        summary = cm.summary()
        meta = {"n_images": cm.n_images, "labelled_pixels": cm.labelled_pixels, **(metadata or {})}
        return cls(
            iou=100.0 * cm.per_class_iou(),
            acc=100.0 * cm.per_class_acc(),
            a_acc=summary["aAcc"],
            m_iou=summary["mIoU"],
            m_acc=summary["mAcc"],
            metadata=meta,
        )

    @classmethod
    def from_arrays(
        cls,
        iou: Sequence[float],
        acc: Sequence[float],
        a_acc: float | None = None,
        metadata: dict | None = None,
    ) -> Table2:
        """Build from per-class percentages; mIoU/mAcc are their NaN-skipping means."""
        iou_arr, acc_arr = np.asarray(iou, dtype=np.float64), np.asarray(acc, dtype=np.float64)
        return cls(
            iou_arr, acc_arr, a_acc, _nanmean(iou_arr), _nanmean(acc_arr), metadata=dict(metadata or {})
        )

    def summary(self) -> dict[str, float | None]:
        return {"aAcc": self.a_acc, "mIoU": self.m_iou, "mAcc": self.m_acc}

    def to_markdown(self, digits: int = 2) -> str:
        lines = ["| label | class | IoU | Acc |", "|---:|:---|---:|---:|"]
        for label, name in enumerate(self.class_names):
            lines.append(
                f"| {label} | {name} | {_fmt(self.iou[label], digits)} | {_fmt(self.acc[label], digits)} |"
            )
        lines += ["", "| aAcc | mIoU | mAcc |", "|---:|---:|---:|"]
        lines.append(
            f"| {_fmt(self.a_acc, digits)} | {_fmt(self.m_iou, digits)} | {_fmt(self.m_acc, digits)} |"
        )
        return "\n".join(lines) + "\n"

    def to_csv(self, digits: int = 2) -> str:
        """The seed's columns ``label,class,IoU,Acc``, one row per class (summary lives in JSON/markdown)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for label, name in enumerate(self.class_names):
            writer.writerow(
                [label, name, _csv_num(self.iou[label], digits), _csv_num(self.acc[label], digits)]
            )
        return buf.getvalue()

    def to_json(self) -> str:
        """Full-precision per-class values, summary and metadata; NaN becomes null."""
        doc = {
            "metadata": self.metadata,
            "summary": {k: _json_num(v) for k, v in self.summary().items()},
            "per_class": [
                {
                    "label": label,
                    "class": name,
                    "IoU": _json_num(self.iou[label]),
                    "Acc": _json_num(self.acc[label]),
                }
                for label, name in enumerate(self.class_names)
            ],
        }
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"

    def write(self, out_dir: str | os.PathLike, stem: str = "table2") -> dict[str, Path]:
        """Write ``{stem}.md``, ``{stem}.csv``, ``{stem}.json`` atomically; returns their paths by format."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "json": out / f"{stem}.json"}
        write_text_atomic(paths["md"], self.to_markdown())
        write_text_atomic(paths["csv"], self.to_csv())
        write_text_atomic(paths["json"], self.to_json())
        return paths


def read_table_csv(path: str | os.PathLike = SEED_TABLE_PATH, a_acc: float | None = None) -> Table2:
    """Read a ``label,class,IoU,Acc`` CSV (the seed's, or one we wrote) into a Table2.

    Rows must be labels 0..46 in order with the class names of ``classes.py``; anything else is an error
    naming the row, so a table for another label set is never compared class-by-class with ours.
    """
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(f"{path}: expected columns {','.join(CSV_COLUMNS)}, got {reader.fieldnames}")
        rows = list(reader)
    if len(rows) != NUM_CLASSES:
        raise ValueError(f"{path}: expected {NUM_CLASSES} class rows, got {len(rows)}")
    iou, acc = [], []
    for i, row in enumerate(rows):
        if row["label"].strip() != str(i) or row["class"] != CLASS_NAMES[i]:
            raise ValueError(
                f"{path}: row {i + 2} is label {row['label']!r} {row['class']!r}, "
                f"expected {i} {CLASS_NAMES[i]!r}"
            )
        iou.append(_parse_num(row["IoU"], path, i + 2))
        acc.append(_parse_num(row["Acc"], path, i + 2))
    return Table2.from_arrays(iou, acc, a_acc=a_acc, metadata={"source": str(path)})


def read_seed_table() -> Table2:
    """The course report's Table 2 (its aAcc 93.7 is from the report's text, not the CSV)."""
    return read_table_csv(SEED_TABLE_PATH, a_acc=93.7)


@dataclass(frozen=True)
class Comparison:
    """Ours vs a reference table, class by class; ``delta = ours - reference`` (percentage points)."""

    ours: Table2
    reference: Table2
    names: tuple[str, str] = ("ours", "seed")

    def rows(self) -> list[tuple[int, str, float, float, float, float, float, float]]:
        """(label, class, IoU ours, IoU ref, IoU delta, Acc ours, Acc ref, Acc delta) per class."""
        o, r = self.ours, self.reference
        return [
            (
                label,
                name,
                o.iou[label],
                r.iou[label],
                o.iou[label] - r.iou[label],
                o.acc[label],
                r.acc[label],
                o.acc[label] - r.acc[label],
            )
            for label, name in enumerate(o.class_names)
        ]

    def _header(self) -> list[str]:
        a, b = self.names
        return ["label", "class", f"IoU {a}", f"IoU {b}", "IoU delta", f"Acc {a}", f"Acc {b}", "Acc delta"]

    def to_markdown(self, digits: int = 2) -> str:
        lines = ["| " + " | ".join(self._header()) + " |", "|---:|:---|" + "---:|" * 6]
        for label, name, *values in self.rows():
            cells = [_fmt(v, digits, signed=i % 3 == 2) for i, v in enumerate(values)]
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
        lines += ["", f"| summary | {self.names[0]} | {self.names[1]} | delta |", "|:---|---:|---:|---:|"]
        for key in ("aAcc", "mIoU", "mAcc"):
            ours, ref = self.ours.summary()[key], self.reference.summary()[key]
            delta = None if ours is None or ref is None else ours - ref
            lines.append(
                f"| {key} | {_fmt(ours, digits)} | {_fmt(ref, digits)} | {_fmt(delta, digits, signed=True)} |"
            )
        return "\n".join(lines) + "\n"

    def to_csv(self, digits: int = 2) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self._header())
        for label, name, *values in self.rows():
            writer.writerow([label, name, *(_csv_num(v, digits) for v in values)])
        return buf.getvalue()

    def write(self, out_dir: str | os.PathLike, stem: str = "table2_vs_seed") -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv"}
        write_text_atomic(paths["md"], self.to_markdown())
        write_text_atomic(paths["csv"], self.to_csv())
        return paths


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same directory + os.replace, so readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _is_missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _fmt(value: float | None, digits: int, signed: bool = False) -> str:
    if _is_missing(value):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _csv_num(value: float | None, digits: int) -> str:
    return "nan" if _is_missing(value) else f"{value:.{digits}f}"


def _json_num(value: float | None) -> float | None:
    return None if _is_missing(value) else float(value)


def _parse_num(text: str, path: Path, line: int) -> float:
    text = text.strip()
    if text == "" or text.lower() == "nan":
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: line {line} holds {text!r}, not a number") from None
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"{path}: line {line} holds {value}, outside 0..100 percent")
    return value
