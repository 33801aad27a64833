"""The batch review page: one static HTML file that works offline (inline CSS and a few lines of JS, no
external assets), its panels referenced as relative paths under ``images/``.

Pure: `render_page` turns the rows `fashiondemo.review` computed into text. Every string that comes from the
dataset, the user or an error message is escaped; numbers are written twice, rounded for people and in full
(``data-v``) for sorting and for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from fashiondemo.compare import RANDOM_WEIGHTS_BANNER, ImageMetrics
from fashiondemo.masks import LegendEntry

PANELS = (
    ("photo", "Image"),
    ("ocrnet", "OCRNet"),
    ("sam", "SAM, GT boxes as prompts"),
    ("gt", "Ground truth"),
)
THUMB_WIDTH = 220  # CSS pixels per panel in the table; the full-size file opens on click


@dataclass
class ReviewRow:
    """One reviewed image. Metrics in percent; ``None`` where the model did not run (see the notes)."""

    image_id: int
    file_name: str
    width: int
    height: int
    panels: dict[str, str] = field(default_factory=dict)  # panel kind -> path relative to the page
    ocrnet: ImageMetrics | None = None
    ocrnet_legend: list[LegendEntry] = field(default_factory=list)
    gt_legend: list[LegendEntry] = field(default_factory=list)
    sam_mean_iou: float | None = None  # percent, NaN when there was nothing to prompt
    sam_table: list[list] = field(default_factory=list)  # compare.BoxStudy.table() rows
    n_instances: int = 0  # non-crowd GT instances with a non-empty mask (= SAM oracle prompts)
    notes: dict[str, str] = field(default_factory=dict)  # panel kind -> why it is empty
    error: str | None = None  # the image itself could not be read

    @property
    def miou(self) -> float:
        return math.nan if self.ocrnet is None else self.ocrnet.miou

    @property
    def macc(self) -> float:
        return math.nan if self.ocrnet is None else self.ocrnet.macc

    @property
    def aacc(self) -> float:
        return math.nan if self.ocrnet is None else self.ocrnet.aacc


@dataclass(frozen=True)
class ModelNote:
    name: str
    status: str  # services status: ready | missing | error | not loaded
    message: str


@dataclass
class ReviewPage:
    title: str
    rows: list[ReviewRow]  # in display order (worst OCRNet mIoU first)
    models: list[ModelNote]
    facts: list[tuple[str, str]]  # (label, value) lines for the summary box
    random_weights: bool = False


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:1.35em;margin:0 0 8px}
.banner{background:#c81414;color:#fff;font-weight:bold;padding:10px 14px;margin:0 0 12px;font-size:1.1em}
.summary{background:#fff;border:1px solid #ddd;padding:8px 12px;margin-bottom:12px;font-size:.92em}
.facts td,.facts th{border:none;padding:1px 10px 1px 0;font-size:1em;background:none;position:static}
.facts th{text-align:left;white-space:nowrap}
.model{margin:4px 0}.model pre{white-space:pre-wrap;margin:2px 0 6px;color:#a33;font-size:.9em}
.ok{color:#176f2c;font-weight:600}.bad{color:#b00;font-weight:600}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;font-size:.9em}
th{background:#eee;position:sticky;top:0;z-index:1}
th[data-col]{cursor:pointer;user-select:none}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.file{min-width:7em;max-width:8em;word-break:break-all;font-size:.8em}
.panels{display:flex;gap:6px}
figure{margin:0;width:%(w)dpx}
figure img{width:100%%;height:auto;display:block;border:1px solid #ccc}
figcaption{font-weight:600;font-size:.85em;margin:0 0 2px}
.note{white-space:pre-wrap;overflow-wrap:anywhere;color:#a33;font-size:.85em;border:1px dashed #d99;
padding:6px;background:#fff6f6}
.legend{font-size:.78em;line-height:1.6em;margin-top:2px}.legend .item{white-space:nowrap}
.sw{display:inline-block;width:.8em;height:.8em;border:1px solid #444;margin:0 .25em 0 .5em;
vertical-align:-.05em}
details{margin-top:4px;font-size:.85em}
details table td,details table th{font-size:.95em;padding:1px 5px;position:static}
""" % {"w": THUMB_WIDTH}  # noqa: UP031 (CSS braces make str.format awkward)

# Click a header to sort by it, again to reverse; rows without a value stay at the bottom either way.
SORT_JS = """
document.querySelectorAll("th[data-col]").forEach(th => th.addEventListener("click", () => {
  const body = document.querySelector("#review tbody"), col = +th.dataset.col;
  const asc = th.dataset.dir !== "asc", num = th.dataset.type === "num";
  document.querySelectorAll("th[data-col]").forEach(h => { h.dataset.dir = ""; });
  th.dataset.dir = asc ? "asc" : "desc";
  const key = tr => tr.children[col].dataset.v;
  const rows = [...body.rows].sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    const d = num ? x - y : x.localeCompare(y);
    return asc ? d : -d;
  });
  body.append(...rows);
}));
"""

# (header, row attribute or callable, kind); kind "num" sorts numerically
COLUMNS = (
    ("#", "rank", "num"),
    ("image id", "image_id", "num"),
    ("file", "file_name", "text"),
    ("OCRNet mIoU %", "miou", "num"),
    ("mAcc %", "macc", "num"),
    ("aAcc %", "aacc", "num"),
    ("SAM oracle mean IoU %", "sam_mean_iou", "num"),
    ("GT instances", "n_instances", "num"),
)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def _cell(key: str, value, kind: str) -> str:
    if kind == "text":
        return f'<td class="file" data-k="{key}" data-v="{escape(str(value))}">{escape(str(value))}</td>'
    if not _is_number(value):
        return f'<td class="num" data-k="{key}" data-v="">&ndash;</td>'
    shown = str(value) if isinstance(value, int) else f"{value:.2f}"
    return f'<td class="num" data-k="{key}" data-v="{value!r}">{shown}</td>'


def _legend(entries: list[LegendEntry]) -> str:
    if not entries:
        return '<div class="legend">no classes present</div>'
    items = "".join(
        f'<span class="item"><span class="sw" style="background:rgb({r},{g},{b})"></span>{escape(e.name)} '
        f"<small>{100 * e.share:.1f}%</small></span> "
        for e in entries
        for r, g, b in [e.rgb]
    )
    return f'<div class="legend">{items}</div>'


def _figure(row: ReviewRow, kind: str, caption: str) -> str:
    legend = {"ocrnet": row.ocrnet_legend, "gt": row.gt_legend}.get(kind)
    path = row.panels.get(kind)
    head = f"<figure><figcaption>{escape(caption)}</figcaption>"
    if path is None:
        return f'{head}<div class="note">{escape(row.notes.get(kind, "not rendered"))}</div></figure>'
    src = escape(quote(path))
    body = (
        f'<a href="{src}"><img src="{src}" width="{row.width}" height="{row.height}" loading="lazy" '
        f'alt="{escape(caption)} of image {row.image_id}"></a>'
    )
    note = f'<div class="note">{escape(row.notes[kind])}</div>' if kind in row.notes else ""
    return f"{head}{body}{'' if legend is None else _legend(legend)}{note}</figure>"


def _number(value) -> str:
    return "&ndash;" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _details(row: ReviewRow) -> str:
    parts = []
    if row.ocrnet is not None:
        lines = "".join(
            f"<tr><td>{r.label}</td><td>{escape(r.name)}</td><td>{_number(r.iou)}</td><td>{_number(r.acc)}</td></tr>"
            for r in row.ocrnet.rows
        )
        parts.append(
            "<table><tr><th>label</th><th>class</th><th>IoU %</th><th>Acc %</th></tr>" + lines + "</table>"
        )
    if row.sam_table:
        lines = "".join(
            f"<tr><td>{escape(str(src))}</td><td>{escape(str(box))}</td><td>{score:.3f}</td>"
            f"<td>{_number(iou)}</td></tr>"
            for src, box, score, iou in row.sam_table
        )
        parts.append(
            "<table><tr><th>SAM prompt</th><th>box x0,y0,x1,y1</th><th>score</th><th>IoU %</th></tr>"
            + lines
            + "</table>"
        )
    if not parts:
        return ""
    inner = '<div class="panels">' + "".join(parts) + "</div>"
    return f"<details><summary>per-class OCRNet and per-instance SAM numbers</summary>{inner}</details>"


def _row(rank: int, row: ReviewRow) -> str:
    values = {"rank": rank}  # the only column that is not a row attribute
    cells = "".join(
        _cell(key, values[key] if key in values else getattr(row, key), kind) for _, key, kind in COLUMNS
    )
    if row.error is not None:
        content = f'<div class="note">{escape(row.error)}</div>'
    else:
        figures = "".join(_figure(row, kind, caption) for kind, caption in PANELS)
        content = f'<div class="panels">{figures}</div>{_details(row)}'
    return f'<tr data-id="{row.image_id}">{cells}<td>{content}</td></tr>'


def _summary(page: ReviewPage) -> str:
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in page.facts)
    models = []
    for m in page.models:
        name = f'<div class="model"><b>{escape(m.name)}</b>: '
        if m.status == "ready":  # the message reads "ready (loaded in 4.2 s)"
            models.append(f'{name}<span class="ok">{escape(m.message)}</span></div>')
        else:  # missing / error: the whole message, which says what to fetch and how
            models.append(
                f'{name}<span class="bad">{escape(m.status)}</span><pre>{escape(m.message)}</pre></div>'
            )
    return f'<div class="summary"><table class="facts">{facts}</table>{"".join(models)}</div>'


def render_page(page: ReviewPage) -> str:
    """The whole page as one string (UTF-8 HTML5)."""
    banner = f'<div class="banner">{escape(RANDOM_WEIGHTS_BANNER)}</div>' if page.random_weights else ""
    heads = "".join(
        f'<th data-col="{i}" data-type="{kind}"{" data-dir=asc" if key == "miou" else ""}>{escape(head)}</th>'
        for i, (head, key, kind) in enumerate(COLUMNS)
    )
    rows = "".join(_row(i + 1, row) for i, row in enumerate(page.rows))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(page.title)}</title><style>{CSS}</style></head><body>\n"
        f"{banner}<h1>{escape(page.title)}</h1>\n{_summary(page)}\n"
        '<p style="font-size:.85em">Sorted by OCRNet mIoU, worst first. Click a column header to sort; '
        "click a panel to open it at full size.</p>\n"
        f'<table id="review"><thead><tr>{heads}<th>panels</th></tr></thead>\n<tbody>{rows}</tbody></table>\n'
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )
