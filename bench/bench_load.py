"""Load: concurrent gradio_client sessions x mixed requests against `python app.py --random-weights`.

    .venv/bin/python bench/bench_load.py [--sessions 8] [--requests 20] [--sam-variant vit_b] [--churn 24]

Each session owns one image no other session uses (the bundled examples by name, then synthetic outfits
uploaded with handle_file), every image a different size, and sends its requests back to back: /sam with
varying prompts (one point, a positive + negative pair, a box, a box + point), /ocrnet and /compare, the
kinds rotated per session so all three endpoints are busy at once. Phases:
1. solo: every distinct request once, alone, through one client (the reference; also warms both models and
   caches every session's SAM embedding);
2. concurrent: all sessions start together (a barrier); each answer must be for the session's own image (mask
   and panels the image's size) and pixel-identical to its solo answer; failures are counted as errors;
3. churn: --churn more distinct images through /sam one after another, more than the SAM embedding cache
   holds, so its cap is what keeps memory flat.
The server's VmRSS is sampled every 0.25 s throughout (/proc/<pid>/status); VmHWM is read at the end.
Prints a markdown table, writes bench/results/load.json and a plot (RSS over time, latency per kind).
Target (issue 6): 0 errors, every session gets masks of its own image, RSS bounded.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from _common import (
    RESULTS_DIR,
    RssSampler,
    finish_record,
    markdown_table,
    median,
    p90,
    proc_memory_mb,
    start_record,
    verdict,
)
from PIL import Image
from tqdm import tqdm

RESULTS = RESULTS_DIR / "load.json"
KINDS = ("sam", "sam", "compare", "sam", "ocrnet")  # rotated by the session's index
EMBEDDING_MIB = 4.0  # one cached SAM embedding: 1 x 256 x 64 x 64 float32, whatever the variant


# ---- images and requests --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnImage:
    """One session's image: a bundled example (by `source` name) or an upload (`path`); hw = (H, W)."""

    name: str
    source: str
    path: str | None
    hw: tuple[int, int]

    def api_args(self) -> tuple:
        from gradio_client import handle_file

        return (handle_file(self.path) if self.path else None, self.source)


@dataclass(frozen=True)
class Request:
    kind: str  # sam | ocrnet | compare
    prompts: str | None  # the API's prompts JSON (sam, compare)

    def args(self) -> tuple:
        return () if self.kind == "ocrnet" else (self.prompts,)


def bundled_images() -> list[OwnImage]:
    from fashiondemo.sources import ExampleLibrary

    library = ExampleLibrary()
    return [OwnImage(n, n, None, library.load(n).rgb.shape[:2]) for n in library.names()]


def write_uploads(
    folder: Path, count: int, taken: set, *, seed: int = 0, noise_side: int = 0
) -> list[OwnImage]:
    """`count` PNG files of sizes not in `taken`: synthetic outfits, or (noise_side > 0) small noise images
    about noise_side px wide (cheap: for churning the cache, where only "distinct" matters)."""
    from fashiondemo.synthetic import make_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        if noise_side:
            rgb = rng.integers(0, 256, (noise_side * 3 // 4 + i, noise_side + i, 3), dtype=np.uint8)
        else:
            rgb = make_image(rng)[0]
        while rgb.shape[:2] in taken:  # distinct sizes: a mix-up between images shows in the shape alone
            rgb = rgb[:-1]
        taken.add(rgb.shape[:2])
        path = folder / f"upload_{seed}_{i:03d}.png"
        Image.fromarray(rgb).save(path)
        images.append(OwnImage(f"upload {path.name}", "", str(path), rgb.shape[:2]))
    return images


def session_images(count: int, folder: Path) -> list[OwnImage]:
    """`count` images of pairwise different sizes: bundled examples (by name; a photo without GT second, for
    variety), then at least a third synthetic uploads (sent with handle_file)."""
    synthetic, photos = [], []
    for image in bundled_images():
        (photos if image.name.startswith("photo:") else synthetic).append(image)
    bundled = (synthetic[:1] + photos + synthetic[1:])[: count - max(1, count // 3)]
    taken = {image.hw for image in bundled}
    return bundled + write_uploads(folder, count - len(bundled), taken, seed=1)


def random_prompts(rng: np.random.Generator, hw: tuple[int, int], variant: int) -> dict:
    h, w = hw

    def point():
        return [round(float(rng.uniform(0, w - 1)), 1), round(float(rng.uniform(0, h - 1)), 1)]

    def box():
        x0, x1 = sorted(rng.uniform(0, w - 1, 2))
        y0, y1 = sorted(rng.uniform(0, h - 1, 2))
        return [round(float(x0), 1), round(float(y0), 1), round(float(x1) + 2, 1), round(float(y1) + 2, 1)]

    shapes = (
        lambda: {"points": [point()]},  # one click: 3 candidates
        lambda: {"points": [point(), point()], "labels": [1, 0]},
        lambda: {"box": box()},
        lambda: {"box": box(), "points": [point()]},
    )
    return shapes[variant % len(shapes)]()


def plan_requests(image: OwnImage, count: int, session: int) -> list[Request]:
    """`count` requests for one session, seeded by its index: kinds rotated, prompts varied."""
    rng = np.random.default_rng(1000 + session)
    plan = []
    for i in range(count):
        kind = KINDS[(i + session) % len(KINDS)]
        prompts = None if kind == "ocrnet" else json.dumps(random_prompts(rng, image.hw, i + session))
        plan.append(Request(kind, prompts))
    return plan


# ---- calls and checks -----------------------------------------------------------------------------------
def _png(path) -> np.ndarray | None:
    return None if path is None else np.asarray(Image.open(path))


def call(client, image: OwnImage, request: Request) -> dict:
    """One API call; the answer as arrays (PNG decoded) + the JSON info."""
    out = client.predict(*image.api_args(), *request.args(), api_name=f"/{request.kind}")
    if request.kind == "compare":
        ocr, sam, gt, info = out
        return {"ocrnet": _png(ocr), "sam": _png(sam), "gt": _png(gt), "scores": info.get("sam_scores")}
    picture, info = out
    return {"picture": _png(picture), "hw": (info.get("height"), info.get("width"))}


def problems(image: OwnImage, got: dict, solo: dict) -> list[str]:
    """Why an answer is not this image's solo answer (empty list: it is)."""
    found = []
    for key, value in got.items():
        if isinstance(value, np.ndarray):
            if value.shape[:2] != image.hw:
                found.append(f"{key} is {value.shape[:2]}, the image is {image.hw}")
            elif not np.array_equal(value, solo[key]):
                found.append(
                    f"{key} differs from the solo answer ({np.mean(value != solo[key]):.3%} of values)"
                )
        elif value != solo[key]:
            found.append(f"{key} {value} != solo {solo[key]}")
    return found


@dataclass
class RequestRecord:
    session: int
    index: int
    kind: str
    image: str
    seconds: float
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def solo_answers(url: str, plans: dict[OwnImage, list[Request]]) -> dict:
    """Every distinct (image, request) answered alone, one at a time, through one client."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    todo = {(image, request) for image, plan in plans.items() for request in plan}
    return {key: call(client, *key) for key in tqdm(sorted(todo, key=str), desc="solo answers", leave=False)}


def run_sessions(url: str, plans: dict[OwnImage, list[Request]], solo: dict) -> list[RequestRecord]:
    """One thread and one gradio_client session per image, all released at once; every answer checked."""
    from gradio_client import Client

    records: list[RequestRecord] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(plans))

    def session(index: int, image: OwnImage, plan: list[Request]) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # recorded as an error of every request of this session
            with lock:
                records.extend(
                    RequestRecord(index, i, r.kind, image.name, 0.0, repr(exc)) for i, r in enumerate(plan)
                )
            barrier.abort()
            return
        barrier.wait()
        for i, request in enumerate(plan):
            start = time.perf_counter()
            record = RequestRecord(index, i, request.kind, image.name, 0.0)
            try:
                got = call(client, image, request)
                record.problems = problems(image, got, solo[image, request])
            except Exception as exc:  # any failure is the figure we count
                record.error = f"{type(exc).__name__}: {exc}"
            record.seconds = time.perf_counter() - start
            with lock:
                records.append(record)

    threads = [
        threading.Thread(target=session, args=(i, image, plan), name=f"session-{i}")
        for i, (image, plan) in enumerate(plans.items())
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(records, key=lambda r: (r.session, r.index))


def churn(url: str, images: list[OwnImage], sampler: RssSampler | None = None) -> list[dict]:
    """Distinct images through /sam one after another: each costs a new embedding and, past the cache's
    entry cap, evicts one. Per image: seconds, mask shape check and VmRSS right after."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    steps = []
    for image in tqdm(images, desc="cache churn", leave=False):
        h, w = image.hw
        start = time.perf_counter()
        got = call(client, image, Request("sam", json.dumps({"points": [[w / 2, h / 2]]})))
        steps.append(
            {
                "seconds": time.perf_counter() - start,
                "shape_ok": got["picture"].shape[:2] == image.hw,
                "rss_mb": sampler.sample() if sampler else None,
            }
        )
    return steps


# ---- the bench ------------------------------------------------------------------------------------------
def summarize(records: list[RequestRecord]) -> dict:
    by_kind = {}
    for kind in sorted({r.kind for r in records}):
        times = [r.seconds for r in records if r.kind == kind and r.error is None]
        by_kind[kind] = {"count": len(times), "median_s": median(times), "p90_s": p90(times)} if times else {}
    ok = [r.seconds for r in records if r.error is None]
    return {
        "requests": len(records),
        "errors": sum(r.error is not None for r in records),
        "wrong_answers": sum(bool(r.problems) for r in records),
        "latency_by_kind": by_kind,
        "latency_median_s": median(ok) if ok else None,
        "latency_p90_s": p90(ok) if ok else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="requests per session")
    parser.add_argument(
        "--sam-variant", default="vit_b", choices=("vit_b", "vit_l", "vit_h", "vit_tiny_test")
    )
    parser.add_argument("--churn", type=int, default=24, help="distinct images through /sam after the load")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from appserver import running_app

    record = start_record("load", __file__, argv)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tmp = Path(tmp)
        images = session_images(args.sessions, tmp / "uploads")
        plans = {image: plan_requests(image, args.requests, i) for i, image in enumerate(images)}
        taken = {image.hw for image in images}
        churn_images = write_uploads(tmp / "churn", args.churn, taken, seed=2, noise_side=96)
        env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio")}
        flags = ["--random-weights", "--no-download", "--sam-variant", args.sam_variant]
        with running_app(*flags, env=env, timeout=300) as app, RssSampler(app.process.pid) as rss:
            marks = {"start": 0.0}
            solo = solo_answers(app.url, plans)
            marks["solo done"] = rss.elapsed()
            records = run_sessions(app.url, plans, solo)
            marks["concurrent done"] = rss.elapsed()
            rss_after_load = rss.sample()
            churned = churn(app.url, churn_images, rss)
            marks["churn done"] = rss.elapsed()
            hwm = proc_memory_mb(app.process.pid).get("VmHWM")

    summary = summarize(records)
    cache_entries = _sam_cache_entries()
    after_cap = [s["rss_mb"] for s in churned[cache_entries:]] if len(churned) > cache_entries else []
    record["setup"] = {
        "sessions": args.sessions,
        "requests_per_session": args.requests,
        "server": f"python app.py {' '.join(flags)}",
        "weights": "random: speed and memory are the architectures'; masks mean nothing",
        "images": [{"name": i.name, "hw": list(i.hw)} for i in images],
        "kinds": list(KINDS),
        "churn_images": args.churn,
        "sam_cache_entries": cache_entries,
    }
    record["summary"] = summary
    record["memory_mb"] = {
        "peak_sampled_rss": rss.peak_mb,
        "vmhwm": hwm,
        "rss_after_concurrent": rss_after_load,
        "rss_after_churn": rss.last_mb,
        # medians of up to 5 samples at each end (as tests/test_load.py): one sample can catch a spike
        "churn_growth_after_cache_full": median(after_cap[-5:]) - median(after_cap[:5])
        if after_cap
        else None,
        "unbounded_cache_would_add": max(0, args.churn - cache_entries) * EMBEDDING_MIB,
        "phase_marks_s": marks,
        "samples": per_second_peaks(rss.samples),
    }
    record["churn"] = churned
    record["failures"] = [asdict(r) for r in records if r.error or r.problems][:50]
    record["met"] = {
        "zero_errors": summary["errors"] == 0,
        "own_image_every_time": summary["wrong_answers"] == 0,
    }
    plot_path = args.out.with_suffix(".png")
    plot(record, records, plot_path)
    finish_record(record, args.out)
    print(report(record))
    print(f"\nwrote {args.out} and {plot_path}")
    return 0 if all(record["met"].values()) else 1


def per_second_peaks(samples: list[tuple[float, float]]) -> list[list[float]]:
    """[second, highest VmRSS MiB in that second]: a small JSON that keeps every spike."""
    peaks: dict[int, float] = {}
    for t, mb in samples:
        peaks[int(t)] = max(mb, peaks.get(int(t), 0.0))
    return [[t, round(mb, 1)] for t, mb in sorted(peaks.items())]


def _sam_cache_entries() -> int:
    """The embedding cache's entry cap the app runs with (FASHIONDEMO_SAM_CACHE_ENTRIES, app.py passes it)."""
    from fashiondemo.settings import from_env

    return from_env().sam_cache_entries


def report(r: dict) -> str:
    s, m, setup = r["summary"], r["memory_mb"], r["setup"]
    rows = [
        [kind, v.get("count", 0), f"{v['median_s'] * 1e3:.0f}", f"{v['p90_s'] * 1e3:.0f}"]
        for kind, v in s["latency_by_kind"].items()
        if v
    ]
    rows.append(
        [
            "all",
            s["requests"] - s["errors"],
            f"{s['latency_median_s'] * 1e3:.0f}",
            f"{s['latency_p90_s'] * 1e3:.0f}",
        ]
    )
    growth = m["churn_growth_after_cache_full"]
    return "\n".join(
        [
            f"{setup['sessions']} concurrent sessions x {setup['requests_per_session']} mixed requests, "
            f"`{setup['server']}`; load average before {r['load_average_before_1_5_15min']}, "
            f"after {r['load_average_after_1_5_15min']}",
            "",
            markdown_table(["request", "answered", "median ms", "p90 ms"], rows),
            "",
            markdown_table(
                ["check", "result", "target"],
                [
                    ["errors", s["errors"], f"0 {verdict(r['met']['zero_errors'])}"],
                    ["answers not the session's own image / not its solo answer", s["wrong_answers"],
                     f"0 {verdict(r['met']['own_image_every_time'])}"],
                    ["server peak RSS (VmHWM)", f"{m['vmhwm']:.0f} MiB", ""],
                    ["RSS after the concurrent phase", f"{m['rss_after_concurrent']:.0f} MiB", ""],
                    [f"RSS growth over the last {len(r['churn']) - setup['sam_cache_entries']} of "
                     f"{len(r['churn'])} churn images (cache full)",
                     "n/a" if growth is None else f"{growth:+.0f} MiB",
                     f"unbounded cache: +{m['unbounded_cache_would_add']:.0f} MiB"],
                ],
                "lrl",
            ),
        ]
    )  # fmt: skip


def plot(r: dict, records: list[RequestRecord], path: Path) -> None:
    """RSS over the run (phases marked) and latency per request kind."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_rss, ax_lat = fig.subplots(1, 2, width_ratios=[3, 2])
    samples = np.asarray(r["memory_mb"]["samples"])
    if len(samples):
        ax_rss.plot(samples[:, 0], samples[:, 1], lw=1.2)
    for name, t in r["memory_mb"]["phase_marks_s"].items():
        ax_rss.axvline(t, color="0.6", ls="--", lw=0.8)
        ax_rss.annotate(name, (t, 0.02), xycoords=("data", "axes fraction"), rotation=90, fontsize=7)
    ax_rss.set(xlabel="seconds since the server answered", ylabel="server VmRSS (MiB)", title="Server memory")
    kinds = sorted({rec.kind for rec in records})
    data = [
        [rec.seconds * 1e3 for rec in records if rec.kind == k and rec.error is None] or [np.nan]
        for k in kinds
    ]
    ax_lat.boxplot(data, tick_labels=kinds)
    ax_lat.set(ylabel="latency (ms)", title=f"{r['setup']['sessions']} concurrent sessions")
    fig.suptitle(f"Load: {r['setup']['server']} (random weights)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


if __name__ == "__main__":
    import sys

    sys.exit(main())
