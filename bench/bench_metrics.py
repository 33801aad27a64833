"""Metric accumulation: fashiondemo's ConfusionMatrix vs mmseg's IoUMetric on the same label-map pairs.

    .venv/bin/python bench/bench_metrics.py [--images 100] [--size 512] [--repeats 5] [--threads 1]

Both sides see the same N pairs (GT with garments, parts and ignore regions; predictions with boundary
errors and class swaps), once as uint8 and once as int64 (the dtype mmseg's pipeline hands IoUMetric).
One timed pass = every pair through the accumulator + the final metrics (ours: ``update`` x N + ``summary``;
mmseg: ``process`` x N + ``compute_metrics``, its per-class table logged at WARNING level so it is built but
not printed). The numbers are checked identical first (aAcc, mIoU, mAcc, per-class IoU/Acc within 1e-6).
Prints a markdown table and writes bench/results/metrics.json. Target: ours >= 5x faster.

Torch runs on 1 thread by default: our numpy side is single-threaded too, so it is core against core, and
torch's 2-thread histc on 512x512 maps was measured ~17x slower while another process held a core (185 vs
11 ms per image on 1 thread), which would flatter us. ``--threads 2`` measures that case.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fashiondemo.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES  # noqa: E402
from fashiondemo.metrics import ConfusionMatrix  # noqa: E402
from fashiondemo.report_table import write_text_atomic  # noqa: E402

RESULTS = REPO / "bench" / "results" / "metrics.json"
TARGET_RATIO = 5.0


def make_pairs(n: int, size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(pred, gt) uint8 HxW pairs that look like clothing parses: mostly background, a few large garments
    (1..27), small parts on top (28..46), an ignore blob; predictions erode/dilate edges and swap classes."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        gt = np.zeros((size, size), dtype=np.uint8)
        for _ in range(rng.integers(2, 6)):  # garments
            centre = tuple(int(v) for v in rng.integers(size // 5, 4 * size // 5, 2))
            axes = tuple(int(v) for v in rng.integers(size // 12, size // 4, 2))
            cv2.ellipse(gt, centre, axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(1, 28)), -1)
        for _ in range(rng.integers(2, 8)):  # parts, painted on top
            x, y = (int(v) for v in rng.integers(0, size - size // 10, 2))
            w, h = (int(v) for v in rng.integers(size // 40, size // 10, 2))
            cv2.rectangle(gt, (x, y), (x + w, y + h), int(rng.integers(28, NUM_CLASSES)), -1)
        x, y = (int(v) for v in rng.integers(0, size - size // 8, 2))
        cv2.circle(gt, (x, y), int(rng.integers(size // 40, size // 12)), IGNORE_INDEX, -1)  # crowd region
        pred = np.where(gt == IGNORE_INDEX, 0, gt).astype(np.uint8)
        kernel = np.ones((5, 5), np.uint8)
        pred = cv2.dilate(pred, kernel) if rng.random() < 0.5 else cv2.erode(pred, kernel)
        swap = rng.random(NUM_CLASSES) < 0.3  # the model confuses some classes on this image
        table = np.where(swap, rng.integers(0, NUM_CLASSES, NUM_CLASSES), np.arange(NUM_CLASSES)).astype(
            np.uint8
        )
        pred = table[pred]
        noise = rng.random(gt.shape) < 0.002
        pred[noise] = rng.integers(0, NUM_CLASSES, int(noise.sum()))
        pairs.append((pred, gt))
    return pairs


def ours_pass(pairs) -> ConfusionMatrix:
    cm = ConfusionMatrix()
    for pred, gt in pairs:
        cm.update(pred, gt)
    cm.summary()
    return cm


def mmseg_pass(metric_cls, samples) -> tuple[dict, list]:
    metric = metric_cls(ignore_index=IGNORE_INDEX)
    metric.dataset_meta = {"classes": CLASS_NAMES}
    for sample in samples:
        metric.process({}, [sample])
    results = list(metric.results)
    return metric.compute_metrics(metric.results), results


def timed(fn, repeats: int, desc: str) -> list[float]:
    times = []
    for _ in tqdm(range(repeats), desc=desc, leave=False):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def check_identical(cm: ConfusionMatrix, mmseg_summary: dict, mmseg_results: list, metric_cls) -> dict:
    """Per-class and summary agreement; mmseg's per-image areas are exact counts, summed here in float64."""
    totals = [sum(r[k].double() for r in mmseg_results) for k in range(4)]
    ref = metric_cls.total_area_to_metrics(*totals, metrics=["mIoU"])
    ours = cm.summary()
    diffs = {
        "aAcc": abs(ours["aAcc"] - 100 * float(ref["aAcc"])),
        "mIoU": abs(ours["mIoU"] - 100 * float(np.nanmean(ref["IoU"]))),
        "mAcc": abs(ours["mAcc"] - 100 * float(np.nanmean(ref["Acc"]))),
        "per_class_IoU": float(np.nanmax(np.abs(cm.per_class_iou() - ref["IoU"]))),
        "per_class_Acc": float(np.nanmax(np.abs(cm.per_class_acc() - ref["Acc"]))),
    }
    same_nan = np.array_equal(np.isnan(cm.per_class_iou()), np.isnan(ref["IoU"])) and np.array_equal(
        np.isnan(cm.per_class_acc()), np.isnan(ref["Acc"])
    )
    worst = max(diffs.values())
    if worst > 1e-6 or not same_nan:
        raise AssertionError(
            f"ConfusionMatrix and mmseg IoUMetric disagree: {diffs}, NaN pattern equal: {same_nan}"
        )
    # mmseg's own compute_metrics output (rounded to 0.01, summed in float32) against ours.
    rounded = {k: abs(float(mmseg_summary[k]) - ours[k]) for k in ("aAcc", "mIoU", "mAcc")}
    if max(rounded.values()) > 0.005 + 1e-6:
        raise AssertionError(f"mmseg compute_metrics disagrees beyond its 0.01 rounding: {rounded}")
    return {
        "max_abs_diff": diffs,
        "summary": ours,
        "mmseg_compute_metrics": {k: float(v) for k, v in mmseg_summary.items()},
    }


def machine() -> dict:
    import mmseg
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "mmseg": mmseg.__version__,
        "platform": platform.platform(),
        "load_average_1_5_15min": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for mmseg's side")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch
    from mmengine.logging import MMLogger
    from mmseg.evaluation.metrics.iou_metric import IoUMetric

    torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel(logging.WARNING)

    pairs = make_pairs(args.images, args.size)
    rows, checks = [], {}
    for dtype in (np.uint8, np.int64):
        typed = [(p.astype(dtype), g.astype(dtype)) for p, g in pairs]
        samples = [
            {
                "pred_sem_seg": {"data": torch.from_numpy(p)[None]},
                "gt_sem_seg": {"data": torch.from_numpy(g)[None]},
            }
            for p, g in typed
        ]
        cm = ours_pass(typed)
        mmseg_summary, mmseg_results = mmseg_pass(IoUMetric, samples)
        checks[np.dtype(dtype).name] = check_identical(cm, mmseg_summary, mmseg_results, IoUMetric)
        ours_t = timed(lambda typed=typed: ours_pass(typed), args.repeats, f"ours {np.dtype(dtype).name}")
        mmseg_t = timed(
            lambda s=samples: mmseg_pass(IoUMetric, s), args.repeats, f"mmseg {np.dtype(dtype).name}"
        )
        ours_med, mmseg_med = statistics.median(ours_t), statistics.median(mmseg_t)
        rows.append(
            {
                "dtype": np.dtype(dtype).name,
                "ours_s": ours_med,
                "mmseg_s": mmseg_med,
                "ours_ms_per_image": 1e3 * ours_med / args.images,
                "mmseg_ms_per_image": 1e3 * mmseg_med / args.images,
                "speedup": mmseg_med / ours_med,
                "ours_all_s": ours_t,
                "mmseg_all_s": mmseg_t,
            }
        )

    print(
        f"\n{args.images} pairs of {args.size}x{args.size}, {NUM_CLASSES} classes, "
        f"torch threads {args.threads}, median of {args.repeats} passes"
    )
    print("| input dtype | ours (ConfusionMatrix) | mmseg IoUMetric | speed-up | target |")
    print("|:---|---:|---:|---:|---:|")
    for r in rows:
        verdict = "met" if r["speedup"] >= TARGET_RATIO else "MISSED"
        print(
            f"| {r['dtype']} | {r['ours_s'] * 1e3:.1f} ms ({r['ours_ms_per_image']:.2f} ms/img) "
            f"| {r['mmseg_s'] * 1e3:.1f} ms ({r['mmseg_ms_per_image']:.2f} ms/img) "
            f"| {r['speedup']:.1f}x | >= {TARGET_RATIO:g}x {verdict} |"
        )
    worst = max(max(c["max_abs_diff"].values()) for c in checks.values())
    print(f"identical: aAcc/mIoU/mAcc and per-class IoU/Acc agree within {worst:.1e} (limit 1e-6)")
    summary = checks["uint8"]["summary"]
    print(f"metrics: aAcc {summary['aAcc']:.4f}  mIoU {summary['mIoU']:.4f}  mAcc {summary['mAcc']:.4f}")

    doc = {
        "benchmark": "metric accumulation: ConfusionMatrix vs mmseg IoUMetric (process + compute_metrics)",
        "command": " ".join(
            ["python", "bench/bench_metrics.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "setup": {"images": args.images, "size": args.size, "classes": NUM_CLASSES, "repeats": args.repeats},
        "target_speedup": TARGET_RATIO,
        "results": rows,
        "agreement": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
