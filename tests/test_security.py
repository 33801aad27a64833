"""What the running app serves and accepts, on the pinned Gradio (6.31): no file outside Gradio's cache and
the bundled examples (path traversal, encodings, absolute paths, URLs), uploads over FASHIONDEMO_MAX_FILE_SIZE
refused with 413, a full queue refused cleanly, and the server answering normally afterwards.

Requests go through `http.client`, which sends the path exactly as written (other clients normalise `../`).
"""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from urllib.parse import quote, urlparse

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "photos" / "astronaut_eileen_collins.jpg"
FILE_ROUTE = "/gradio_api/file="


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    found = {name: tmp_path_factory.mktemp(name) for name in ("gradio-temp", "checkpoints", "outside")}
    (found["checkpoints"] / "ocrnet_hr18_fashionpedia.pth").write_bytes(b"secret weights")
    (found["outside"] / "secret.txt").write_text("top secret")
    return found


@pytest.fixture(scope="module")
def app(dirs):
    from appserver import running_app

    env = {
        "FASHIONDEMO_CHECKPOINT_DIR": str(dirs["checkpoints"]),
        "FASHIONDEMO_MAX_FILE_SIZE": "1mb",
        "FASHIONDEMO_QUEUE_SIZE": "1",
        "GRADIO_TEMP_DIR": str(dirs["gradio-temp"]),
    }
    args = ("--random-weights", "--no-download", "--sam-variant", "vit_tiny_test")
    with running_app(*args, env=env) as server:
        yield server


def _request(app, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, body) for a raw request: ``path`` is sent byte for byte."""
    url = urlparse(app.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _multipart(name: str, data: bytes) -> tuple[bytes, dict]:
    boundary = "----fashiondemo-hardening"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _upload(app, name: str, data: bytes):
    body, headers = _multipart(name, data)
    return _request(app, "POST", "/gradio_api/upload", body, headers)


def _assert_serving(app) -> None:
    from gradio_client import Client

    _, info = Client(app.url, verbose=False).predict(
        None, "synthetic #50001", json.dumps({"points": [[40, 50]]}), api_name="/sam"
    )
    assert info["scores"]


# ---- the file route ------------------------------------------------------------------------------------
def _traversals(dirs: dict[str, Path]) -> dict[str, str]:
    repo, temp = str(REPO), str(dirs["gradio-temp"])
    secret = dirs["outside"] / "secret.txt"
    return {
        "dotdot": "../app.py",
        "dotdot_deep": "../../../../../../etc/passwd",
        "absolute_etc": "/etc/passwd",
        "absolute_encoded": "%2Fetc%2Fpasswd",
        "dotdot_encoded": "%2e%2e%2fapp.py",
        "dotdot_encoded_slashes": "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "dotdot_double_encoded": "%252e%252e%252fapp.py",
        "backslashes": "..\\..\\app.py",
        "nul_byte": "/etc/passwd%00.png",
        "proc_environ": "/proc/self/environ",
        "repo_app": f"{repo}/app.py",
        "repo_app_relative": "app.py",
        "repo_git_config": f"{repo}/.git/config",
        "repo_checkpoints_readme": f"{repo}/checkpoints/README.md",
        "checkpoint_dir_weights": str(dirs["checkpoints"] / "ocrnet_hr18_fashionpedia.pth"),
        "out_of_examples": f"{repo}/examples/../app.py",
        "out_of_examples_encoded": f"{repo}/examples/%2e%2e/app.py",
        "out_of_examples_mixed": f"{repo}/examples/..%2fapp.py",
        "out_of_gradio_temp": f"{temp}/../{secret.parent.name}/{secret.name}",
        "next_to_gradio_temp": str(secret),
        "file_url": "file:///etc/passwd",
        "loopback_url": "http://127.0.0.1:1/secret",  # Gradio's URL proxy refuses non-public addresses
        "metadata_url": "http://169.254.169.254/latest/meta-data/",
    }


def test_every_traversal_attempt_is_403(app, dirs):
    answers = {}
    for name, target in _traversals(dirs).items():
        answers[name] = _request(app, "GET", FILE_ROUTE + target)
    wrong = {name: status for name, (status, _) in answers.items() if status != 403}
    assert not wrong, wrong
    for name, (_, body) in answers.items():  # no content leaked in the refusal either
        leaked = (b"root:", b"import gradio", b"top secret", b"secret weights", b"[core]")
        assert not any(marker in body for marker in leaked), name
        assert json.loads(body)["detail"].startswith("File not allowed"), name


def test_routes_without_the_api_prefix_are_404(app):
    """Gradio 6 serves files only under /gradio_api/; the Gradio 3/4 route answers 404."""
    assert _request(app, "GET", "/file=/etc/passwd")[0] == 404
    assert _request(app, "GET", "/file=" + str(REPO / "app.py"))[0] == 404


def test_bundled_examples_are_served(app):
    for path in (str(PHOTO), str(PHOTO.relative_to(REPO))):
        status, body = _request(app, "GET", FILE_ROUTE + quote(path))
        assert status == 200 and body == PHOTO.read_bytes()
    synthetic = sorted((REPO / "examples" / "fashionpedia-synthetic" / "test").glob("*.jpg"))[0]
    status, body = _request(app, "GET", FILE_ROUTE + str(synthetic))
    assert status == 200 and body == synthetic.read_bytes()


def test_uploads_are_served_back_from_the_cache_only(app, dirs):
    data = b"\x89PNG not really, just bytes"
    status, body = _upload(app, "note.png", data)
    assert status == 200
    (cached,) = json.loads(body)
    assert Path(cached).is_relative_to(dirs["gradio-temp"])
    assert _request(app, "GET", FILE_ROUTE + cached) == (200, data)
    # the same name one level up, out of the cache: refused
    assert _request(app, "GET", FILE_ROUTE + cached + "/../../note.png")[0] == 403


# ---- upload size -----------------------------------------------------------------------------------------
def test_upload_over_the_limit_is_413_and_leaves_nothing_behind(app, dirs):
    big = np.random.default_rng(0).bytes(2_000_000)
    status, body = _upload(app, "big.bin", big)
    assert status == 413, (status, body[:200])
    assert body == b"File size exceeded maximum allowed size of 1048576 bytes."  # 1mb = 1 MiB to Gradio
    assert not [p for p in dirs["gradio-temp"].rglob("big.bin")]
    assert _upload(app, "small.bin", big[:500_000])[0] == 200  # under 1 MiB: fine
    _assert_serving(app)


def test_chunked_upload_over_the_limit_is_413(app):
    """No Content-Length to check up front: the limit must hold while streaming."""
    body, headers = _multipart("chunked.bin", np.random.default_rng(1).bytes(3_000_000))
    url = urlparse(app.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
        connection.request("POST", "/gradio_api/upload", body=pieces, headers=headers, encode_chunked=True)
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    _assert_serving(app)


# ---- queue ----------------------------------------------------------------------------------------------
def test_full_queue_is_a_clean_refusal(app, tmp_path):
    """FASHIONDEMO_QUEUE_SIZE=1 and six OCRNet requests at once on a 640 px image (seconds each, one at a
    time): one runs, at most one waits, the rest get Gradio's queue-full refusal, never another error; the
    server then serves normally."""
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    ys, xs = np.mgrid[0:640, 0:640]
    path = tmp_path / "big.png"
    Image.fromarray(np.stack([xs % 256, ys % 256, (xs + ys) % 256], -1).astype(np.uint8)).save(path)
    client = Client(app.url, verbose=False)
    client.predict(handle_file(str(path)), "", api_name="/ocrnet")  # model built: only queueing is tested

    outcomes: list[object] = []
    lock = threading.Lock()

    def one(job):
        try:
            result = job.result(timeout=300)
        except Exception as exc:  # collected: the assertions below say which kinds are allowed
            result = exc
        with lock:
            outcomes.append(result)

    jobs = [client.submit(handle_file(str(path)), "", api_name="/ocrnet") for _ in range(6)]
    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refused = [o for o in outcomes if isinstance(o, QueueError)]
    served = [o for o in outcomes if isinstance(o, tuple | list)]
    assert len(refused) + len(served) == len(jobs), [o for o in outcomes if o not in refused + served]
    assert refused and served, outcomes
    assert all("Queue is full" in str(exc) for exc in refused)
    assert all(info["height"] == info["width"] == 640 for _, info in served)
    _assert_serving(app)
