"""The app's named endpoints through gradio_client, against a real `python app.py --random-weights` server."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiondemo.classes import CLASS_NAMES
from fashiondemo.masks import rle_to_masks
from fashiondemo.sources import ExampleLibrary

ASTRONAUT = "examples/photos/astronaut_eileen_collins.jpg"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(random_app):
    from gradio_client import Client

    return Client(random_app.url, verbose=False)


@pytest.fixture(scope="module")
def examples():
    return ExampleLibrary()


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_named_endpoints_are_listed(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ocrnet", "/sam", "/compare", "/everything"} <= set(named)


def test_ocrnet_endpoint_returns_a_label_map_of_the_image_size(client, examples):
    name = examples.names()[0]
    label_png, info = client.predict(None, name, api_name="/ocrnet")
    labels = _png(label_png)
    h, w = examples.load(name).rgb.shape[:2]
    assert labels.shape == (h, w) and labels.dtype == np.uint8
    assert labels.max() < len(CLASS_NAMES)
    assert info["random_weights"] is True and (info["height"], info["width"]) == (h, w)
    # the legend describes exactly the PNG's classes and shares (lossless PNG, not webp)
    present = {int(v): np.mean(labels == v) for v in np.unique(labels) if v != 0}
    assert {e["label"]: e["share"] for e in info["legend"]} == pytest.approx(present, abs=1e-6)
    assert all(e["name"] == CLASS_NAMES[e["label"]] for e in info["legend"])


def test_sam_endpoint_on_an_upload(client):
    from gradio_client import handle_file

    prompts = {"points": [[256, 200], [100, 480]], "labels": [1, 0]}
    mask_png, info = client.predict(handle_file(ASTRONAUT), "", json.dumps(prompts), api_name="/sam")
    mask = _png(mask_png)
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 255}
    assert info["prompts"]["labels"] == [1, 0] and len(info["scores"]) == len(info["masks"]) == 1
    # the RLE in the JSON and the PNG are the same mask
    assert np.array_equal(rle_to_masks(info["masks"])[info["best_index"]], mask == 255)


def test_sam_endpoint_multimask_for_one_click(client, examples):
    name = examples.names()[1]
    mask_png, info = client.predict(None, name, json.dumps({"points": [[60, 80]]}), api_name="/sam")
    assert len(info["scores"]) == 3 and info["best_index"] == int(np.argmax(info["scores"]))
    assert _png(mask_png).shape == examples.load(name).rgb.shape[:2]


def test_compare_endpoint_panels_and_metrics(client, examples):
    name = examples.names()[0]
    record = examples.load(name)
    h, w = record.rgb.shape[:2]
    box = [10, 10, w // 2, h // 2]
    ocr, sam, gt, info = client.predict(None, name, json.dumps({"box": box}), api_name="/compare")
    for panel in (ocr, sam, gt):
        assert _png(panel).shape[:2] == (h, w)
    metrics = info["metrics"]
    gt_labels = set(np.unique(record.gt.label_map).tolist()) - {255}
    assert gt_labels <= {row[0] for row in metrics["rows"]}
    assert all(row[1] == CLASS_NAMES[row[0]] for row in metrics["rows"])
    assert 0 <= metrics["mIoU"] <= 100 and "sam_vs_gt" in info and "sam_labelled_by_ocrnet" in info


def test_everything_endpoint(client, examples):
    name = examples.names()[2]
    overlay, info = client.predict(None, name, api_name="/everything")
    assert _png(overlay).shape[:2] == examples.load(name).rgb.shape[:2]
    assert info["count"] == len(info["masks"]) and info["random_weights"] is True


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ({"points": [[5000, 10]]}, "outside"),
        ({"box": [10, 10, 10, 50]}, "box"),
        ({"points": [[1, 2]], "labels": [1, 0]}, "labels"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_prompts_get_a_clear_error_and_the_server_stays_up(client, examples, prompts, message):
    from gradio_client.exceptions import AppError

    text = prompts if isinstance(prompts, str) else json.dumps(prompts)
    with pytest.raises(AppError, match=message):
        client.predict(None, examples.names()[0], text, api_name="/sam")
    _, info = client.predict(None, examples.names()[0], json.dumps({"points": [[20, 20]]}), api_name="/sam")
    assert info["scores"]


def test_non_image_upload_is_refused_clearly(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not an image at all")
    with pytest.raises(AppError, match=r"not an image|cannot identify|image"):
        client.predict(handle_file(str(bogus)), "", api_name="/ocrnet")


def test_two_clients_never_see_each_others_masks(random_app, examples):
    """Two sessions prompting different images at the same time each get masks of their own image, equal to
    what they get when alone."""
    from gradio_client import Client, handle_file

    jobs = {
        "a": ((None, examples.names()[3]), {"points": [[40, 60]]}),
        "b": ((handle_file(ASTRONAUT), ""), {"points": [[300, 300]], "labels": [1]}),
    }
    alone = {}
    for key, (image, prompts) in jobs.items():
        png, _ = Client(random_app.url, verbose=False).predict(*image, json.dumps(prompts), api_name="/sam")
        alone[key] = _png(png)
    together, errors = {}, []

    def run(key):
        image, prompts = jobs[key]
        try:
            client = Client(random_app.url, verbose=False)
            for _ in range(3):
                png, _ = client.predict(*image, json.dumps(prompts), api_name="/sam")
                together.setdefault(key, []).append(_png(png))
        except Exception as exc:  # collected and asserted below, so a thread failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert alone["a"].shape == examples.load(examples.names()[3]).rgb.shape[:2]
    assert alone["b"].shape == (512, 512)
    for key in jobs:
        assert all(np.array_equal(mask, alone[key]) for mask in together[key])


def test_readme_client_snippet_runs_as_written(random_app, capsys, monkeypatch):
    """The README's gradio_client example, executed verbatim but for the server's address."""
    repo = Path(__file__).resolve().parents[1]
    blocks = re.findall(r"```python\n(.*?)```", (repo / "README.md").read_text(), flags=re.S)
    snippet = next(block for block in blocks if "gradio_client" in block)
    assert 'Client("http://127.0.0.1:7860/")' in snippet
    monkeypatch.chdir(repo)  # the snippet opens examples/ by relative path
    namespace: dict = {}
    exec(snippet.replace("http://127.0.0.1:7860/", random_app.url), namespace)
    image = np.asarray(Image.open(repo / ASTRONAUT))
    assert namespace["labels"].shape == image.shape[:2] and namespace["labels"].dtype == np.uint8
    printed = capsys.readouterr().out.strip().splitlines()[-1]  # gradio_client prints "Loaded as API" first
    assert np.isfinite(float(printed.split()[0]))  # the mIoU
