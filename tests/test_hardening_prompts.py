"""Bad SAM prompts: outside the image, negative, zero-area or inverted boxes, NaN / infinity, 1000 points,
oversized or pathological JSON. Each is refused with a message naming the bad value, before any model work,
and the server (or the session) carries on; the largest accepted prompt finishes in bounded time.

Three doors: the /sam API (JSON), `SamSegmenter.predict` (arrays) and the UI's click path (`Session.click`,
`handlers.click`), all with the test-only tiny SAM encoder and random weights.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from fashiondemo.sam_prompts import MAX_POINTS, PromptError

pytestmark = pytest.mark.slow
EXAMPLE = "synthetic #50001"  # a bundled example, 301 x 462 (width x height)
WIDTH, HEIGHT = 301, 462
GOOD = {"points": [[150, 200]]}
BAD_PROMPTS = {
    "point_right_of_image": ({"points": [[WIDTH, 10]]}, r"point \[301\.0, 10\.0\] lies outside the 301x462"),
    "point_far_outside": ({"points": [[5000, 10]]}, r"point \[5000\.0, 10\.0\] lies outside"),
    "point_negative": ({"points": [[-1, 5]]}, r"point \[-1\.0, 5\.0\] lies outside"),
    "point_below_image": ({"points": [[10, HEIGHT]]}, r"lies outside the 301x462 image"),
    "box_negative": ({"box": [-5, 0, 10, 10]}, r"box \[-5\.0, 0\.0, 10\.0, 10\.0\] reaches outside"),
    "box_past_the_edge": ({"box": [0, 0, WIDTH + 1, 100]}, r"reaches outside the 301x462 image"),
    "box_zero_area": ({"box": [10, 10, 10, 50]}, r"has zero area or is inverted"),
    "box_zero_height": ({"box": [10, 30, 60, 30]}, r"has zero area or is inverted"),
    "box_inverted": ({"box": [50, 60, 10, 20]}, r"has zero area or is inverted \(need x0 < x1 and y0 < y1\)"),
    "point_nan": ({"points": [[math.nan, 5]]}, r"points contains NaN or infinity"),
    "box_nan": ({"box": [0, 0, math.nan, 5]}, r"box contains NaN or infinity"),
    "point_infinity": ({"points": [[math.inf, 5]]}, r"points contains NaN or infinity"),
    "thousand_points": (
        {"points": [[i % WIDTH, i % HEIGHT] for i in range(1000)]},
        rf"1000 points given; at most {MAX_POINTS} are accepted",
    ),
    "label_not_0_or_1": ({"points": [[5, 5]], "labels": [2]}, r"labels must be 1 \(object\) or 0"),
    "labels_without_points": ({"labels": [1]}, r"0 points but 1 labels"),
    "point_with_three_numbers": ({"points": [[1, 2, 3]]}, r"points must be \[\[x, y\], \.\.\.\]"),
    "box_of_strings": ({"box": [0, 0, "a", "b"]}, r"box \[x0, y0, x1, y1\]"),
    "empty": ({}, r"give at least one point or a box"),
}
BAD_JSON = {
    "not_json": ("{points: [[1, 2]]", r"prompts are not valid JSON"),
    "too_long": (json.dumps({"points": [[1, 2]] * 20_000}), r"characters; the limit is 100000"),
    "nested_too_deeply": (
        '{"points": ' + "[" * 40_000 + "]" * 40_000 + "}",
        r"not valid JSON: nested too deeply",
    ),
    "not_an_object": ("[[1, 2]]", r"prompts must be a JSON object"),
    "unknown_key": (json.dumps({"point": [[1, 2]]}), r"unknown prompt keys \['point'\]"),
}


# ---- the /sam API ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from gradio_client import Client

    from appserver import running_app

    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path_factory.mktemp("no-checkpoints"))}
    args = ("--random-weights", "--no-download", "--sam-variant", "vit_tiny_test")
    with running_app(*args, env=env) as app:
        client = Client(app.url, verbose=False)
        client.predict(None, EXAMPLE, json.dumps(GOOD), api_name="/sam")  # model built, image embedded
        yield client


def _sam(client, text: str):
    return client.predict(None, EXAMPLE, text, api_name="/sam")


def _assert_serving(client) -> None:
    _, info = _sam(client, json.dumps(GOOD))
    assert len(info["scores"]) == 3 and (info["height"], info["width"]) == (HEIGHT, WIDTH)


@pytest.mark.parametrize("name", sorted(BAD_PROMPTS) + sorted(BAD_JSON))
def test_api_refuses_bad_prompts_clearly(name, client):
    from gradio_client.exceptions import AppError

    if name in BAD_PROMPTS:
        prompts, message = BAD_PROMPTS[name]
        text = json.dumps(prompts)  # NaN / Infinity literals, as Python's json writes them
    else:
        text, message = BAD_JSON[name]
    start = time.perf_counter()
    with pytest.raises(AppError, match=message):
        _sam(client, text)
    assert time.perf_counter() - start < 60  # loose: only catches unbounded work
    _assert_serving(client)


def test_api_prompt_at_the_limit_runs_in_bounded_time(client):
    """MAX_POINTS points plus a box: the most the API takes; one decoder pass, a single mask."""
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.integers(0, WIDTH, MAX_POINTS), rng.integers(0, HEIGHT, MAX_POINTS)])
    prompts = {"points": points.tolist(), "labels": [1, 0] * (MAX_POINTS // 2), "box": [0, 0, WIDTH, HEIGHT]}
    start = time.perf_counter()
    _, info = _sam(client, json.dumps(prompts))
    assert time.perf_counter() - start < 60
    assert len(info["scores"]) == 1 and len(info["prompts"]["points"]) == MAX_POINTS


def test_api_edges_and_corners_are_inside(client):
    """The last pixel and a box covering the whole image (edges may touch the border) are valid."""
    _, info = _sam(client, json.dumps({"points": [[WIDTH - 1, HEIGHT - 1], [0, 0]], "labels": [1, 0]}))
    assert info["prompts"]["points"] == [[WIDTH - 1, HEIGHT - 1], [0, 0]]
    _, info = _sam(client, json.dumps({"box": [0, 0, WIDTH, HEIGHT]}))
    assert info["prompts"]["box"] == [0, 0, WIDTH, HEIGHT]


# ---- SamSegmenter, arrays ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def segmenter():
    import torch

    from fashiondemo.sam import SamSegmenter

    torch.set_num_threads(2)
    return SamSegmenter("vit_tiny_test", random_weights=True, device="cpu", threads=2).load()


@pytest.mark.parametrize("name", sorted(set(BAD_PROMPTS) - {"point_with_three_numbers", "box_of_strings"}))
def test_segmenter_refuses_before_any_model_work(name, segmenter):
    """The same prompts as arrays: PromptError before the image encoder ever runs."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    prompts, message = BAD_PROMPTS[name]
    if name == "labels_without_points":
        message = r"labels were given without points"
    elif name == "empty":
        message = r"empty prompt: give at least one point or a box"
    calls = segmenter.encoder_calls
    with pytest.raises(PromptError, match=message):
        segmenter.predict(
            rgb, points=prompts.get("points"), labels=prompts.get("labels"), box=prompts.get("box")
        )
    assert segmenter.encoder_calls == calls


def test_segmenter_refuses_malformed_arrays(segmenter):
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for kwargs, message in (
        ({"points": [[1, 2, 3]]}, r"points must be an \(N, 2\) array"),
        ({"points": [["a", "b"]]}, r"points must be numbers"),
        ({"box": [0, 0, 5]}, r"box must be 4 numbers"),
        ({"points": [[1, 2]], "labels": [1, 1]}, r"2 labels for 1 points"),
        ({"points": [[1, 2]], "mask_input": np.zeros((64, 64))}, r"mask_input must be .* 256x256"),
        ({"points": [[1, 2]], "mask_input": np.full((256, 256), np.nan)}, r"mask_input contains NaN"),
    ):
        with pytest.raises(PromptError, match=message):
            segmenter.predict(rgb, **kwargs)


# ---- the UI's click path ---------------------------------------------------------------------------------
def _session():
    from fashiondemo.session import Session
    from fashiondemo.sources import ExampleLibrary

    session = Session()
    session.set_record(ExampleLibrary().load(EXAMPLE))
    return session


@pytest.mark.parametrize(
    ("x", "y"), [(-1, 5), (5, -0.5), (WIDTH, 5), (5, HEIGHT), (math.nan, 5), (5, math.inf)]
)
def test_clicks_outside_the_image_are_refused(x, y):
    from fashiondemo.session import POSITIVE

    session = _session()
    with pytest.raises(ValueError, match=r"outside the 301x462 image"):
        session.click(x, y, POSITIVE)
    assert session.prompts.empty and not session.history


def test_two_click_box_is_never_empty_or_inverted():
    """Same pixel twice, or the second corner above-left of the first: still a valid box for SAM."""
    from fashiondemo.sam_prompts import validate_prompts
    from fashiondemo.session import BOX

    for first, second in (((40, 50), (40, 50)), ((200, 300), (20, 30))):
        session = _session()
        assert session.click(*first, BOX) is False and session.click(*second, BOX) is True
        x0, y0, x1, y1 = session.prompts.box
        assert x0 < x1 and y0 < y1
        validate_prompts((HEIGHT, WIDTH), box=session.prompts.box)


def test_click_past_the_point_limit_is_undone_with_a_message():
    """A session already holding MAX_POINTS points: one more click is refused by SAM, the click undone, the
    session left as it was and still usable."""
    from fashiondemo import handlers
    from fashiondemo.services import AppConfig, ModelHub
    from fashiondemo.session import POSITIVE, Prompts

    hub = ModelHub(AppConfig(random_weights=True, sam_variant="vit_tiny_test", device="cpu"))
    session = _session()
    full = Prompts(tuple((float(i % WIDTH), float(i % HEIGHT)) for i in range(MAX_POINTS)), (1,) * MAX_POINTS)
    session.prompts = full
    with pytest.raises(handlers.UserError, match=rf"{MAX_POINTS + 1} points given; at most {MAX_POINTS}"):
        handlers.click(session, hub, 10.0, 10.0, POSITIVE)
    assert session.prompts == full
    session.prompts = Prompts()
    handlers.click(session, hub, 10.0, 10.0, POSITIVE)
    assert session.chosen_mask is not None and session.chosen_mask.shape == (HEIGHT, WIDTH)
