"""`python app.py` with no weights: it serves, and each model says what is missing and what fixes it."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from PIL import Image

from appserver import running_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path_factory.mktemp("empty-checkpoints"))}
    with running_app("--no-download", env=env) as app:
        yield app


@pytest.fixture(scope="module")
def client(bare_app):
    from gradio_client import Client

    return Client(bare_app.url, verbose=False)


def test_page_states_what_is_missing(bare_app):
    with urllib.request.urlopen(bare_app.url + "config", timeout=30) as response:
        config = response.read().decode()
    assert "RANDOM WEIGHTS" not in config
    assert "No fine-tuned OCRNet checkpoint" in config and "python -m fashiondemo.train" in config
    assert "sam_vit_b_01ec64.pth" in config and "python -m fashiondemo.download sam --variant vit_b" in config


def test_ocrnet_endpoint_says_how_to_get_a_checkpoint(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(None, "synthetic #50001", api_name="/ocrnet")
    message = str(info.value)
    assert "python -m fashiondemo.train" in message and "python -m fashiondemo.export" in message
    assert "FASHIONDEMO_OCRNET_CHECKPOINT" in message


def test_sam_endpoint_says_how_to_download(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"python -m fashiondemo\.download sam"):
        client.predict(None, "synthetic #50001", json.dumps({"points": [[10, 10]]}), api_name="/sam")


def test_ground_truth_still_works_without_models(client):
    ocr, _sam, gt, info = client.predict(None, "synthetic #50001", "", api_name="/compare")
    assert "No fine-tuned OCRNet checkpoint" in info["ocrnet_error"]
    gt_panel = np.asarray(Image.open(gt))
    assert gt_panel.shape[:2] == np.asarray(Image.open(ocr)).shape[:2]
    assert info["metrics"]["rows"] == []  # no prediction, so nothing to score, but no failure either
