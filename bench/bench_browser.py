"""Click -> SAM overlay visible, in a real browser: Debian's Chromium driven by Playwright against
`python app.py --random-weights` (SAM vit_b), with the time split between server and the rest.

    .venv/bin/python bench/bench_browser.py [--clicks 20] [--reset-every 4] [--example 0] [--threads N]
        [--no-inprocess]

The page loads a bundled example; the bench waits until the page says "SAM: image embedded" (OCRNet has run
and SAM's embedding is cached, as a user sees it), then makes positive clicks at seeded positions on the SAM
panel, pressing "Clear prompts" every --reset-every clicks (so a mask comes from 1..4 points, as people
click). Each click is timed inside the page, so no Python or CDP delay is counted: from the pointerdown
event's timestamp to the frame after the panel's new <img> has been decoded (src changed -> img.decode() ->
requestAnimationFrame), i.e. the overlay is on screen. The page's resource timing gives when the browser
started and finished fetching the new panel image.
Split per click: the server's own phases from Gradio's profiler (GRADIO_PROFILING=1: queue wait,
preprocess, the handler, postprocess = panel encode (JPEG) + cache write), then "request + events"
(page -> server -> page, the rest until the image fetch starts), the image fetch, decode + paint.
With --inprocess (default) the handler is split further by rerunning the same clicks in this process
through fashiondemo.handlers: SAM (prompt checks, cached embedding, decoder), the panel drawing and
numbers, and PNG / JPEG encoding of the panel (what a format change would save), also at 1024x1536 for
photos bigger than the example.
Prints a markdown table, writes bench/results/browser.json. Target (issue 6): median <= 300 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from _common import RESULTS_DIR, finish_record, markdown_table, median, p90, start_record, verdict
from tqdm import tqdm

RESULTS = RESULTS_DIR / "browser.json"
TARGET_MS = 300.0
PANEL = "#sam-panel"
EMBEDDED = "SAM: image embedded"

# Resolves with the timings of the next change of the panel's <img>: t0 = pointerdown's timestamp, tSrc = src
# changed, tVisible = the frame after the new image is decoded; plus its resource timing. All in ms on the
# page's clock (performance.now()).
ARM = """([sel, timeoutMs]) => {
  const panel = document.querySelector(sel);
  const old = (panel.querySelector('img') || {}).src || '';
  window.__click = new Promise((resolve, reject) => {
    let t0 = null, tSrc = null;
    document.addEventListener('pointerdown', (e) => { t0 = e.timeStamp; }, {capture: true, once: true});
    const check = () => {
      const img = panel.querySelector('img');
      if (!img || !img.src || img.src === old || tSrc !== null) return;
      tSrc = performance.now();
      observer.disconnect();
      const src = img.src;
      img.decode().catch(() => null).then(() => requestAnimationFrame(() => {
        const tVisible = performance.now();
        const res = performance.getEntriesByName(src)[0] || null;
        resolve({t0, tSrc, tVisible, src,
                 fetchStart: res && res.startTime, fetchEnd: res && res.responseEnd});
      }));
    };
    const observer = new MutationObserver(check);
    observer.observe(panel, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    setTimeout(() => { observer.disconnect(); reject(new Error('no new SAM panel image')); }, timeoutMs);
  });
  return old;
}"""
SIZE = "(sel) => { const i = document.querySelector(sel + ' img'); "
SIZE += "return [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]; }"


def click_positions(n: int, seed: int = 0) -> list[tuple[float, float]]:
    """Seeded click positions as fractions of the panel's width and height, away from the edges."""
    rng = np.random.default_rng(seed)
    return [(float(x), float(y)) for x, y in rng.uniform(0.2, 0.8, (n, 2))]


def timed_click(page, fx: float, fy: float, timeout_ms: int = 120_000) -> dict:
    from browser import click_image

    page.evaluate(ARM, [PANEL, timeout_ms])
    click_image(page, PANEL, fx, fy)
    t = page.evaluate("window.__click")
    out = {"total_ms": t["tVisible"] - t["t0"], "src_change_ms": t["tSrc"] - t["t0"]}
    if t["fetchStart"] is not None:
        out["to_fetch_start_ms"] = t["fetchStart"] - t["t0"]
        out["fetch_ms"] = t["fetchEnd"] - t["fetchStart"]
        out["decode_paint_ms"] = t["tVisible"] - t["fetchEnd"]
    return out


def clear_prompts(page) -> None:
    before = page.evaluate(f"document.querySelector('{PANEL} img').src")
    page.get_by_role("button", name="Clear prompts").click()
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img'); return i && i.src !== old; }",
        arg=[PANEL, before],
        timeout=60_000,
    )


def server_traces(url: str, count: int) -> list[dict]:
    """Gradio's profiler records of the last `count` clicks (handler on_click), oldest first."""
    with urllib.request.urlopen(f"{url}gradio_api/profiling/traces", timeout=30) as response:
        traces = json.loads(response.read())
    clicks = [t for t in traces if "on_click" in str(t.get("fn_name"))]
    return sorted(clicks, key=lambda t: t["timestamp"])[-count:]


def browser_phase(args, tmp: Path) -> tuple[list[dict], list[dict], dict]:
    from appserver import running_app
    from browser import chromium, open_app

    env = {
        "FASHIONDEMO_CHECKPOINT_DIR": str(tmp),
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "GRADIO_PROFILING": "1",
    }
    if args.threads:
        env["FASHIONDEMO_TORCH_THREADS"] = str(args.threads)
    with running_app("--random-weights", "--no-download", env=env, timeout=300) as app, chromium() as browser:
        page = open_app(browser, app.url)
        start = time.perf_counter()
        page.locator("#examples img").nth(args.example).click()
        page.wait_for_function(
            f"document.body.innerText.includes({EMBEDDED!r})", timeout=600_000, polling=100
        )
        ready_s = time.perf_counter() - start
        size = page.evaluate(SIZE, PANEL)
        clicks, positions = [], click_positions(args.clicks)
        for i, (fx, fy) in enumerate(tqdm(positions, desc="clicks", leave=False)):
            if i and args.reset_every and i % args.reset_every == 0:
                clear_prompts(page)
            time.sleep(args.pause)
            clicks.append({"position": [fx, fy], "points": i % (args.reset_every or 10**9) + 1,
                           **timed_click(page, fx, fy)})  # fmt: skip
        traces = server_traces(app.url, len(clicks))
        page.screenshot(path=str(tmp / "last.png"))
    page_info = {
        "ready_after_example_click_s": ready_s,
        "panel_natural_wh": size[:2],
        "panel_shown_wh": size[2:],
    }
    return clicks, traces, page_info


def inprocess_split(args, positions: list[tuple[float, float]]) -> dict:
    """The on_click handler's work without Gradio: SAM predict, panel + numbers, image encodings."""
    from PIL import Image

    from fashiondemo import handlers
    from fashiondemo.services import AppConfig, ModelHub
    from fashiondemo.session import POSITIVE, Session
    from fashiondemo.sources import ExampleLibrary

    library = ExampleLibrary()
    hub = ModelHub(AppConfig(random_weights=True, auto_download=False))
    session = Session()
    session.set_record(library.load(library.names()[args.example]))
    handlers.run_ocrnet(session, hub)
    handlers.precompute_sam(session, hub)
    h, w = session.shape
    parts = {
        "sam_click_ms": [],
        "panel_and_numbers_ms": [],
        "png_ms": [],
        "jpeg90_ms": [],
        "png_level1_ms": [],
    }
    sizes = {"png_bytes": [], "jpeg90_bytes": []}
    for i, (fx, fy) in enumerate(positions):
        if i and args.reset_every and i % args.reset_every == 0:
            session.clear_prompts()
        t0 = time.perf_counter()
        handlers.click(session, hub, fx * w, fy * h, POSITIVE)
        t1 = time.perf_counter()
        picture = handlers.sam_view(session, hub, handlers.Look())
        handlers.sam_numbers(session)
        handlers.candidate_choices(session)
        t2 = time.perf_counter()
        parts["sam_click_ms"].append((t1 - t0) * 1e3)
        parts["panel_and_numbers_ms"].append((t2 - t1) * 1e3)
        for key, (fmt, params) in {
            "png_ms": ("png", {}),
            "jpeg90_ms": ("jpeg", {"quality": 90}),
            "png_level1_ms": ("png", {"compress_level": 1}),
        }.items():
            ms, nbytes = _encode_ms(Image.fromarray(picture), fmt, params)
            parts[key].append(ms)
            if key in ("png_ms", "jpeg90_ms"):
                sizes[key.replace("_ms", "_bytes")].append(nbytes)
    big = np.asarray(Image.fromarray(picture).resize((1024, 1536)))
    large = {
        key: median([_encode_ms(Image.fromarray(big), fmt, params)[0] for _ in range(5)])
        for key, (fmt, params) in {"png_ms": ("png", {}), "jpeg90_ms": ("jpeg", {"quality": 90})}.items()
    }
    return {
        "image_hw": [h, w],
        "medians_ms": {k: median(v) for k, v in parts.items()},
        "median_bytes": {k: median(v) for k, v in sizes.items()},
        "encode_1024x1536_ms": large,
        "sam": hub.sam.loaded.describe(),
    }


def _encode_ms(image, fmt: str, params: dict) -> tuple[float, int]:
    buffer = io.BytesIO()
    start = time.perf_counter()
    image.save(buffer, fmt, **params)
    return (time.perf_counter() - start) * 1e3, buffer.tell()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument(
        "--reset-every", type=int, default=4, help="press Clear prompts every N clicks (0: never)"
    )
    parser.add_argument("--example", type=int, default=0, help="which bundled example (gallery index)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between clicks (a person's pace)")
    parser.add_argument(
        "--no-inprocess", action="store_true", help="skip the in-process split of the handler"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="FASHIONDEMO_TORCH_THREADS for the server (0: the app's default)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:  # the in-process split builds its models from the same setting
        os.environ["FASHIONDEMO_TORCH_THREADS"] = str(args.threads)

    record = start_record("browser", __file__, argv)
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        clicks, traces, page_info = browser_phase(args, Path(tmp))
    split = None if args.no_inprocess else inprocess_split(args, click_positions(args.clicks))

    totals = [c["total_ms"] for c in clicks]
    figures = {"click_to_visible_median_ms": median(totals), "click_to_visible_p90_ms": p90(totals)}
    for key in ("src_change_ms", "to_fetch_start_ms", "fetch_ms", "decode_paint_ms"):
        values = [c[key] for c in clicks if key in c]
        if values:
            figures[f"{key[:-3]}_median_ms"] = median(values)
    if len(traces) == len(clicks):
        for phase in ("queue_wait_ms", "preprocess_ms", "fn_call_ms", "postprocess_ms", "total_ms"):
            figures[f"server_{phase[:-3]}_median_ms"] = median([t[phase] for t in traces])
        server = [t["queue_wait_ms"] + t["total_ms"] for t in traces]
        figures["server_all_median_ms"] = median(server)
        if all("to_fetch_start_ms" in c for c in clicks):
            rest = [c["to_fetch_start_ms"] - s for c, s in zip(clicks, server, strict=True)]
            figures["request_and_events_median_ms"] = median(rest)
    record["setup"] = {
        "server": "python app.py --random-weights --no-download (SAM vit_b; GRADIO_PROFILING=1)",
        "browser": "Debian /usr/bin/chromium, headless, via Playwright (tests/browser.py)",
        "clicks": args.clicks,
        "reset_every": args.reset_every,
        "pause_s": args.pause,
        "example_index": args.example,
        "torch_threads": args.threads or "app default (usable CPUs)",
        **page_info,
    }
    record["figures"] = figures
    record["clicks"] = clicks
    record["server_traces"] = traces
    record["inprocess_split"] = split
    record["target_ms"] = TARGET_MS
    record["met"] = figures["click_to_visible_median_ms"] <= TARGET_MS
    finish_record(record, args.out)
    print(report(record))
    print(f"\nwrote {args.out}")
    return 0


def report(r: dict) -> str:
    f, s = r["figures"], r["setup"]
    over = f["click_to_visible_median_ms"] - TARGET_MS

    def ms(key):
        return f"{f[key]:.0f}" if key in f else "n/a"

    rows = [
        ["click -> overlay visible, median", ms("click_to_visible_median_ms"),
         f"<= {TARGET_MS:.0f} {verdict(r['met'])}" + ("" if r["met"] else f" (over by {over:.0f} ms)")],
        ["click -> overlay visible, p90", ms("click_to_visible_p90_ms"), ""],
        ["  server: queue wait", ms("server_queue_wait_median_ms"), ""],
        ["  server: preprocess", ms("server_preprocess_median_ms"), ""],
        ["  server: handler (SAM + panel + numbers)", ms("server_fn_call_median_ms"), ""],
        ["  server: postprocess (panel encode + cache write)", ms("server_postprocess_median_ms"), ""],
        ["  request + events (page -> server -> page)", ms("request_and_events_median_ms"), ""],
        ["  panel image fetch", ms("fetch_median_ms"), ""],
        ["  decode + paint", ms("decode_paint_median_ms"), ""],
    ]  # fmt: skip
    lines = [
        f"{s['clicks']} positive clicks on the SAM panel ({'x'.join(map(str, s['panel_natural_wh']))} "
        f"image, shown at {'x'.join(map(str, s['panel_shown_wh']))}), prompts cleared every "
        f"{s['reset_every']}; medians per part (they need not add up exactly); load average before "
        f"{r['load_average_before_1_5_15min']}, after {r['load_average_after_1_5_15min']}",
        "",
        markdown_table(["figure", "ms", "target"], rows, "lrl"),
    ]
    split = r["inprocess_split"]
    if split:
        m, big = split["medians_ms"], split["encode_1024x1536_ms"]
        lines += [
            "",
            f"The handler in-process (same clicks, image {split['image_hw'][1]}x{split['image_hw'][0]}, SAM "
            f"{split['sam']['precision']}, {split['sam']['threads']} threads), medians in ms:",
            "",
            markdown_table(
                ["SAM click (checks + decoder)", "panel + numbers", "PNG encode", "PNG level 1", "JPEG q90",
                 "PNG / JPEG at 1024x1536"],
                [[f"{m['sam_click_ms']:.0f}", f"{m['panel_and_numbers_ms']:.0f}", f"{m['png_ms']:.0f}",
                  f"{m['png_level1_ms']:.0f}", f"{m['jpeg90_ms']:.0f}",
                  f"{big['png_ms']:.0f} / {big['jpeg90_ms']:.0f}"]],
            ),
        ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
