"""Data preparation throughput: `fashiondemo.prepare` (Fashionpedia json + images -> mmseg image + label PNG
pairs) in images per second with 1 and with 2 worker processes, in the same run, on a synthetic set.

    .venv/bin/python bench/bench_prepare.py [--images 200] [--repeats 3] [--workers 1 2]

The set is `fashiondemo.synthetic.write_dataset` (train split, seed 0: the same bytes every time). Each timed
pass is `prepare_split(..., force=True)` into a fresh output folder (the json read + validated, every image
decoded, its semantic map painted, both files encoded and renamed into place); the worker counts are
interleaved so both see the same machine load; the median pass per count is reported, and the ratio of
2-worker to 1-worker throughput (at most 2 on 2 cores: the pool's start-up and the json read are serial).
The outputs of the two counts are checked byte-identical. Prints a markdown table, writes
bench/results/prepare.json.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS_DIR, finish_record, markdown_table, median, start_record

RESULTS = RESULTS_DIR / "prepare.json"
JSON_NAME, IMAGE_DIR = "instances_attributes_train2020.json", "train"


def timed_pass(dataset: Path, out: Path, workers: int) -> float:
    from fashiondemo.prepare import prepare_split

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = prepare_split(dataset / JSON_NAME, dataset / IMAGE_DIR, out, workers=workers, force=True)
    seconds = time.perf_counter() - start
    if summary.failed or summary.written == 0:
        raise RuntimeError(f"prepare failed: {summary.line()} {dict(list(summary.failed.items())[:3])}")
    return seconds


def same_outputs(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200, help="synthetic train images")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from fashiondemo.synthetic import write_dataset

    record = start_record("prepare", __file__, argv)
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        dataset = write_dataset(tmp / "synthetic", args.images, 0, seed=0, progress=True)
        generate_s = time.perf_counter() - start
        pixels = _pixels(dataset)
        times = {w: [] for w in args.workers}
        for repeat in range(args.repeats):
            for workers in args.workers if repeat % 2 == 0 else reversed(args.workers):
                print(f"pass {repeat + 1}/{args.repeats}, {workers} worker(s)...", flush=True)
                times[workers].append(timed_pass(dataset, tmp / f"out-{workers}", workers))
        first = tmp / f"out-{args.workers[0]}"
        identical = all(same_outputs(first, tmp / f"out-{w}") for w in args.workers[1:])

    rows = {}
    for workers, seconds in times.items():
        med = median(seconds)
        rows[workers] = {"median_s": med, "images_per_s": args.images / med, "passes_s": seconds}
    base = rows[args.workers[0]]["images_per_s"]
    for row in rows.values():
        row["speedup_vs_first"] = row["images_per_s"] / base
    record["setup"] = {
        "images": args.images,
        "megapixels": round(pixels / 1e6, 2),
        "dataset": f"fashiondemo.synthetic.write_dataset(n_train={args.images}, seed=0), train split",
        "max_side": 1024,
        "repeats": args.repeats,
        "generate_seconds": generate_s,
    }
    record["results"] = {str(w): r for w, r in rows.items()}
    record["outputs_identical_across_worker_counts"] = identical
    finish_record(record, args.out)
    print(report(record))
    print(f"\nwrote {args.out}")
    return 0 if identical else 1


def _pixels(dataset: Path) -> int:
    import json

    images = json.loads((dataset / JSON_NAME).read_text())["images"]
    return sum(i["width"] * i["height"] for i in images)


def report(r: dict) -> str:
    setup = r["setup"]
    rows = [
        [w, f"{v['median_s']:.2f}", f"{v['images_per_s']:.1f}", f"{v['speedup_vs_first']:.2f}x"]
        for w, v in r["results"].items()
    ]
    return "\n".join(
        [
            f"prepare: {setup['images']} synthetic images ({setup['megapixels']} Mpx), median of "
            f"{setup['repeats']} passes per worker count, interleaved; load average before "
            f"{r['load_average_before_1_5_15min']}, after {r['load_average_after_1_5_15min']}; "
            f"{r['machine']['cpu_count']} CPUs",
            "",
            markdown_table(["workers", "seconds", "images/s", "vs 1 worker"], rows),
            "",
            f"outputs byte-identical across worker counts: {r['outputs_identical_across_worker_counts']}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
