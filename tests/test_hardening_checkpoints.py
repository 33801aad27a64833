"""Broken weight files in a real-mode app (no --random-weights): each is refused with a message saying what is
wrong and what to do, no refused file is ever unpickled, and the other model keeps answering in the same
process. The model slots retry on each use, so one app per direction goes through every case by swapping the
file on disk between requests (and picks up a good file without a restart).

- app "sam_broken": SAM's official file (checkpoint dir) is missing, truncated, of the right size but the
  wrong hash, or a pickle payload under the official name; OCRNet (a valid exported checkpoint) keeps working.
- app "ocrnet_broken": SAM from the user's own file (`--sam-checkpoint`, a random-init vit_b state dict: a
  non-registry name is checked only by loading safely); OCRNet's file is missing, truncated, a pickle payload,
  or a loadable file that is not an OCRNet checkpoint, while SAM keeps working.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashiondemo.ocrnet import DEFAULT_CHECKPOINT_NAME
from fashiondemo.weights import REGISTRY

pytestmark = pytest.mark.slow
SAM_SPEC = REGISTRY["sam-vit_b"]
IMAGE_HW = (48, 64)
PROMPT = json.dumps({"points": [[30, 20]]})


class CodePayload:
    """Unpickling this runs code (writes ``marker``): a loader that ever unpickles it fails the test."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"with open({self.marker!r}, 'w') as f: f.write('payload ran')",))


def _payload(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": CodePayload(marker)}, path)
    return path


def _exported_ocrnet(path: Path) -> Path:
    """A deployable OCRNet checkpoint (tiny config, random init) made the way users make theirs: a training
    checkpoint turned into the weights-only file by `fashiondemo.export`."""
    from mmseg.registry import MODELS

    from fashiondemo.classes import dataset_meta
    from fashiondemo.export import export
    from fashiondemo.mmcv_compat import register_mmseg_modules
    from fashiondemo.model_configs import TINY_CONFIG, load_config
    from fashiondemo.ocrnet import init_random_weights

    register_mmseg_modules()
    cfg = load_config(TINY_CONFIG)
    model = MODELS.build(cfg.model)
    init_random_weights(model, seed=0)
    training = path.parent / "iter_1.pth"
    meta = {"cfg": cfg.pretty_text, "experiment_name": f"{TINY_CONFIG}_20260101_000000", "iter": 1}
    torch.save({"state_dict": model.state_dict(), "meta": {**meta, "dataset_meta": dataset_meta()}}, training)
    export(training, path)
    training.unlink()
    return path


def _random_sam_vit_b(path: Path) -> Path:
    """The real vit_b architecture's state dict with seeded random init, saved as a user's own file."""
    from segment_anything import sam_model_registry

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = sam_model_registry["vit_b"](checkpoint=None)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def good_ocrnet(tmp_path_factory) -> Path:
    return _exported_ocrnet(tmp_path_factory.mktemp("ocrnet") / "exported.pth")


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    ys, xs = np.mgrid[0 : IMAGE_HW[0], 0 : IMAGE_HW[1]]
    rgb = np.stack([xs * 4, ys * 5, np.full_like(xs, 90)], -1).astype(np.uint8)
    path = tmp_path_factory.mktemp("image") / "photo.png"
    Image.fromarray(rgb).save(path)
    return str(path)


def _app(checkpoint_dir: Path, *args: str):
    from appserver import running_app

    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(checkpoint_dir), "FASHIONDEMO_TORCH_THREADS": "2"}
    return running_app("--no-download", *args, env=env)


def _place(target: Path, content: Path | bytes | None) -> None:
    """Put ``content`` at ``target`` (a file copied, bytes written) or remove it (None); atomically, as a
    finished download or export would land."""
    target.unlink(missing_ok=True)
    if content is None:
        return
    data = content if isinstance(content, bytes) else content.read_bytes()
    staging = target.with_suffix(".staging")
    staging.write_bytes(data)
    os.replace(staging, target)


def _ocrnet_works(client, image: str) -> None:
    from gradio_client import handle_file

    labels_png, info = client.predict(handle_file(image), "", api_name="/ocrnet")
    assert np.asarray(Image.open(labels_png)).shape == IMAGE_HW
    assert info["random_weights"] is False


def _sam_works(client, image: str) -> None:
    from gradio_client import handle_file

    mask_png, info = client.predict(handle_file(image), "", PROMPT, api_name="/sam")
    assert np.asarray(Image.open(mask_png)).shape == IMAGE_HW
    assert info["random_weights"] is False and len(info["scores"]) == 3


def _refused(client, image: str, endpoint: str, message: str) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    args = (handle_file(image), "", PROMPT) if endpoint == "/sam" else (handle_file(image), "")
    with pytest.raises(AppError, match=f"(?s){message}"):  # messages span lines (how-to steps)
        client.predict(*args, api_name=endpoint)


def test_payload_file_really_runs_code_when_unpickled_unsafely(tmp_path):
    # Guards the marker checks below: the crafted file does execute code under a plain torch.load.
    marker = tmp_path / "ran.txt"
    torch.load(_payload(tmp_path / "evil.pth", marker), weights_only=False)
    assert marker.read_text() == "payload ran"


# ---- SAM's official file broken, OCRNet fine ---------------------------------------------------------------
@pytest.fixture(scope="module")
def sam_broken(tmp_path_factory, good_ocrnet):
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("checkpoints-sam-broken")
    _place(folder / DEFAULT_CHECKPOINT_NAME, good_ocrnet)
    with _app(folder) as app:
        yield folder, Client(app.url, verbose=False), app


SAM_DOWNLOAD = SAM_SPEC.download_command.replace(" ", r"\s")  # the message names the command that fetches it


def test_sam_missing(sam_broken, image):
    folder, client, _ = sam_broken
    _place(folder / SAM_SPEC.filename, None)
    _refused(
        client, image, "/sam", rf"SAM vit_b is missing its weights: .*{SAM_SPEC.filename}.*{SAM_DOWNLOAD}"
    )
    _ocrnet_works(client, image)


def test_sam_truncated(sam_broken, image):
    folder, client, _ = sam_broken
    partial = folder / "partial.pth"
    torch.save({"w": torch.zeros(64, 1024)}, partial)  # the first 64 KiB of a torch file, as a cut download
    _place(folder / SAM_SPEC.filename, partial.read_bytes()[: 64 * 1024])
    _refused(
        client,
        image,
        "/sam",
        rf"is 65,536 bytes, expected 375,042,383: truncated .*Delete it .*{SAM_DOWNLOAD}",
    )
    _ocrnet_works(client, image)


def test_sam_right_size_wrong_hash(sam_broken, image):
    folder, client, _ = sam_broken
    target = folder / SAM_SPEC.filename
    _place(target, None)
    with open(target, "wb") as f:  # sparse: the official size in zeros, costs no disk
        f.truncate(SAM_SPEC.expected.size)
    _refused(
        client, image, "/sam", r"has md5 [0-9a-f]{32}, expected 01ec64\.\.\.: damaged or a different file"
    )
    _ocrnet_works(client, image)
    target.unlink()


def test_sam_pickle_payload_under_the_official_name(sam_broken, image, tmp_path):
    folder, client, _ = sam_broken
    marker = tmp_path / "sam-payload-ran.txt"
    _place(folder / SAM_SPEC.filename, _payload(tmp_path / "evil.pth", marker))
    _refused(client, image, "/sam", r"expected 375,042,383")  # refused by its size, before any unpickling
    _ocrnet_works(client, image)
    assert not marker.exists()


def test_sam_broken_app_is_still_up(sam_broken, image):
    _, client, app = sam_broken
    assert app.process.poll() is None
    _ocrnet_works(client, image)


# ---- OCRNet's file broken, SAM fine ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ocrnet_broken(tmp_path_factory):
    """(folder, client, user's SAM path, real SAM weights to put there). SAM's path starts as a payload."""
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("checkpoints-ocrnet-broken")
    real_sam = _random_sam_vit_b(tmp_path_factory.mktemp("sam") / "weights.pth")
    user_sam = folder / "my_sam_vit_b.pth"
    with _app(folder, "--sam-variant", "vit_b", "--sam-checkpoint", str(user_sam)) as app:
        yield folder, Client(app.url, verbose=False), user_sam, real_sam, app


def test_both_refused_then_sam_recovers(ocrnet_broken, image, tmp_path):
    """A payload as the user's SAM file is refused by the weights-only loader (never run); OCRNet has no file
    and says how to make one; then the user's real SAM file is picked up without a restart."""
    folder, client, user_sam, real_sam, _ = ocrnet_broken
    marker = tmp_path / "sam-payload-ran.txt"
    _place(user_sam, _payload(tmp_path / "evil.pth", marker))
    _place(folder / DEFAULT_CHECKPOINT_NAME, None)
    _refused(
        client,
        image,
        "/sam",
        r"SAM vit_b failed to load: UnsafeCheckpointError: refused to load .*not tensors",
    )
    _refused(client, image, "/ocrnet", r"No fine-tuned OCRNet checkpoint at .*python -m fashiondemo.export")
    assert not marker.exists()
    _place(user_sam, real_sam)
    _sam_works(client, image)


def test_ocrnet_truncated(ocrnet_broken, image, good_ocrnet):
    folder, client, *_ = ocrnet_broken
    data = good_ocrnet.read_bytes()
    _place(folder / DEFAULT_CHECKPOINT_NAME, data[: len(data) // 2])
    _refused(client, image, "/ocrnet", r"OCRNet failed to load: CorruptCheckpointError: .*unreadable")
    _sam_works(client, image)


def test_ocrnet_pickle_payload(ocrnet_broken, image, tmp_path):
    folder, client, *_ = ocrnet_broken
    marker = tmp_path / "ocrnet-payload-ran.txt"
    _place(folder / DEFAULT_CHECKPOINT_NAME, _payload(tmp_path / "evil.pth", marker))
    _refused(client, image, "/ocrnet", r"UnsafeCheckpointError: refusing to load .*pickle payload")
    _sam_works(client, image)
    assert not marker.exists()


def test_ocrnet_loadable_but_not_an_ocrnet_checkpoint(ocrnet_broken, image, tmp_path):
    folder, client, *_ = ocrnet_broken
    plain = tmp_path / "plain.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, plain)  # weights-only safe, but no state_dict + meta
    _place(folder / DEFAULT_CHECKPOINT_NAME, plain)
    _refused(client, image, "/ocrnet", r"is not an OCRNet checkpoint: expected a dict with 'state_dict'")
    _sam_works(client, image)


def test_ocrnet_recovers_when_a_good_file_lands(ocrnet_broken, image, good_ocrnet):
    folder, client, _, _, app = ocrnet_broken
    _place(folder / DEFAULT_CHECKPOINT_NAME, good_ocrnet)
    _ocrnet_works(client, image)
    _sam_works(client, image)
    assert app.process.poll() is None
