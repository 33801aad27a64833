"""Load on a real `python app.py --random-weights` server: concurrent gradio_client sessions with mixed
requests each get their own image's answers, and the SAM embedding cache's cap keeps the server's memory flat.

Small counts with the 2-block test encoder (vit_tiny_test) keep it fast; bench/bench_load.py runs the full
8 x 20 with SAM vit_b. The load driver (images, request plans, solo answers, checks) is the bench's own.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import bench_load  # noqa: E402

pytestmark = pytest.mark.slow
SESSIONS, REQUESTS = 4, 5
CHURN = 48  # distinct images through /sam, well past the cache's entry cap
EMBEDDING_MIB = bench_load.EMBEDDING_MIB


@pytest.fixture(scope="module")
def tiny_app(tmp_path_factory):
    from appserver import running_app

    tmp = tmp_path_factory.mktemp("load-app")
    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    flags = ("--random-weights", "--no-download", "--sam-variant", "vit_tiny_test")
    with running_app(*flags, env=env) as app:
        yield app


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return bench_load.session_images(SESSIONS, tmp_path_factory.mktemp("load-images"))


def test_session_images_are_distinct_in_size_and_mix_examples_with_uploads(images):
    assert len({image.hw for image in images}) == SESSIONS
    assert any(image.path is None for image in images) and any(image.path for image in images)


def test_plans_mix_every_endpoint_and_prompt_shape(images):
    plans = [bench_load.plan_requests(image, REQUESTS, i) for i, image in enumerate(images)]
    kinds = {r.kind for plan in plans for r in plan}
    assert kinds == {"sam", "ocrnet", "compare"}
    prompts = [r.prompts for plan in plans for r in plan if r.prompts]
    assert len(set(prompts)) == len(prompts)  # every prompt differs
    assert any('"box"' in p for p in prompts) and any('"labels": [1, 0]' in p for p in prompts)


def test_concurrent_sessions_each_get_their_own_images_answers(tiny_app, images):
    plans = {image: bench_load.plan_requests(image, REQUESTS, i) for i, image in enumerate(images)}
    solo = bench_load.solo_answers(tiny_app.url, plans)
    # The check can fail: masks are neither all empty nor all full, and another session's answer is flagged.
    sam = [(image, v) for (image, r), v in solo.items() if r.kind == "sam"]
    assert any(0 < v["picture"].mean() / 255 < 1 for _, v in sam), (
        "masks all empty or full: nothing to compare"
    )
    mine, my_answer = sam[0]
    other_answer = next(answer for image, answer in sam if image != mine)
    assert bench_load.problems(mine, other_answer, my_answer)

    records = bench_load.run_sessions(tiny_app.url, plans, solo)
    assert len(records) == SESSIONS * REQUESTS
    errors = [(r.session, r.kind, r.error) for r in records if r.error]
    assert not errors
    wrong = [(r.session, r.kind, r.problems) for r in records if r.problems]
    assert not wrong
    assert {r.kind for r in records} == {"sam", "ocrnet", "compare"}
    assert tiny_app.process.poll() is None  # the server is still up


def test_memory_stays_flat_once_the_embedding_cache_is_full(tiny_app, images, tmp_path):
    from _common import RssSampler

    cap = bench_load._sam_cache_entries()
    taken = {image.hw for image in images}
    churn = bench_load.write_uploads(tmp_path, CHURN, taken, seed=3, noise_side=64)
    with RssSampler(tiny_app.process.pid) as rss:
        steps = bench_load.churn(tiny_app.url, churn, rss)
    assert all(step["shape_ok"] for step in steps)
    full = [step["rss_mb"] for step in steps[cap:]]
    # Medians of 5 samples at each end: single samples swing by tens of MiB as requests allocate and free.
    growth = statistics.median(full[-5:]) - statistics.median(full[:5])
    unbounded = (CHURN - cap) * EMBEDDING_MIB  # what an uncapped cache would add over the same images
    # Measured here: +9 MiB with the cap (8 entries), +228 MiB with the cap lifted, over 32 images.
    assert growth < unbounded / 2, (
        f"server RSS grew {growth:.0f} MiB over {CHURN - cap} new images after the cache filled "
        f"(an unbounded cache would add {unbounded:.0f} MiB): {[round(v) for v in full]}"
    )
