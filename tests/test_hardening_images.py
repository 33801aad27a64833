"""Odd, broken and hostile image files, through `images.load_rgb` and through the app's upload path.

Every case is either decoded the way a person expects (checked pixel by pixel) or refused with a message that
says why; after each one the server still answers a good request. The files are generated here with Pillow
(nothing committed). The app path goes through Gradio's own preprocessing of `gr.Image` before our loader sees
the file, so it can differ from `load_rgb` on its own: that is what the upload tests pin down.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiondemo.fashionpedia import FashionpediaSplit
from fashiondemo.images import ImageLoadError, load_rgb
from fashiondemo.sources import SYNTHETIC_EXAMPLES, VAL_JSON

pytestmark = pytest.mark.slow
MAX_FILE_SIZE_MB = 1  # the app under test gets FASHIONDEMO_MAX_FILE_SIZE=1mb


# ---- generated files -------------------------------------------------------------------------------------
def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _gradient(width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: red grows along x, green along y, blue constant (every row differs)."""
    ys, xs = np.mgrid[0:height, 0:width]
    red, green = xs * 255 // max(1, width - 1), ys * 255 // max(1, height - 1)
    return np.stack([red, green, np.full_like(xs, 90)], -1).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _bomb_png(width: int, height: int, *, full_stream: bool) -> bytes:
    """A grayscale PNG declaring width x height. With ``full_stream`` its pixel data is really there
    (all zeros, ~1000:1 compressed: a valid 64 MP image in ~60 KB); without, only the header."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if not full_stream:
        return b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    packer, row = zlib.compressobj(9), b"\0" * (width + 1)  # filter byte + pixels
    stream = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def _rgba_case() -> tuple[bytes, np.ndarray]:
    """Left third opaque dark red, middle third fully transparent *black* (what most editors store under
    alpha 0), right third half-transparent blue: composited over white, never over black."""
    rgba = np.zeros((60, 90, 4), np.uint8)
    rgba[:, :30] = (150, 20, 20, 255)
    rgba[:, 60:] = (0, 0, 255, 128)
    expected = np.empty((60, 90, 3), np.uint8)
    expected[:, :30] = (150, 20, 20)
    expected[:, 30:60] = 255
    expected[:, 60:] = np.rint(np.array([0, 0, 255]) * 128 / 255 + 255 * (1 - 128 / 255)).astype(np.uint8)
    return _encode(Image.fromarray(rgba, "RGBA"), "PNG"), expected


def _exif_case(orientation: int = 6) -> tuple[bytes, np.ndarray]:
    """A JPEG stored sideways with EXIF orientation 6: the expected picture is the stored pixels turned 90
    degrees clockwise (what every viewer shows)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(Image.fromarray(_gradient(96, 64)), "JPEG", quality=95, exif=exif.tobytes())
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return data, np.ascontiguousarray(np.rot90(stored, k=-1))


@dataclass(frozen=True)
class Case:
    """A file and what must come of it: the exact decoded RGB, or a refusal matching ``refusal``."""

    filename: str
    data: bytes
    expected: np.ndarray | None = None
    tolerance: int = 0  # allowed |difference| against ``expected`` (only for lossy re-encoding by us)
    refusal: str | None = None  # regex for load_rgb's message
    app_refusal: str | None = None  # regex for the app's message, where Gradio answers before our loader


def _cases() -> dict[str, Case]:
    wide = _gradient(10000, 60)
    sixteen = (np.arange(64 * 96, dtype=np.int64).reshape(64, 96) * 65535 // (64 * 96 - 1)).astype(np.uint16)
    palette = Image.fromarray(_gradient(80, 64)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    gray = _gradient(80, 64)[..., 0]
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    jpeg = _encode(Image.fromarray(_gradient(200, 150)), "JPEG", quality=95)
    rgba_data, rgba_expected = _rgba_case()
    exif_data, exif_expected = _exif_case()
    bomb = r"decompression bomb"
    return {
        "bomb_header_only": Case(
            "bomb_header.png", _bomb_png(100_000, 100_000, full_stream=False), refusal=bomb, app_refusal=bomb
        ),
        "bomb_64mp_valid": Case(
            "bomb_valid.png",
            _bomb_png(8000, 8000, full_stream=True),
            refusal=r"8000x8000 = 64\.0 megapixels, over the 50 MP limit; refused before decoding",
        ),
        "truncated_jpeg": Case("truncated.jpg", jpeg[: len(jpeg) // 2], refusal=r"truncated or corrupt"),
        "not_an_image": Case(
            "notes.png",
            b"%PDF-1.4 certainly not a picture\n" * 4,
            refusal=r"not an image",
            app_refusal=r"cannot identify image file",  # Gradio's gr.Image opens the file first
        ),
        "png_16bit": Case(
            "sixteen.png",
            _encode(Image.fromarray(sixteen), "PNG"),
            expected=np.repeat(np.rint(sixteen / 257.0).astype(np.uint8)[..., None], 3, axis=2),
        ),
        "cmyk_jpeg": Case(
            "cmyk.jpg",
            _encode(Image.new("CMYK", (80, 64), (0, 255, 255, 0)), "JPEG", quality=95),
            expected=np.broadcast_to(np.array([255, 0, 0], np.uint8), (64, 80, 3)),
            tolerance=3,  # JPEG; full magenta + yellow ink is red
        ),
        "palette_png": Case(
            "palette.png", _encode(palette, "PNG"), expected=np.asarray(palette.convert("RGB"))
        ),
        "rgba_png": Case("rgba.png", rgba_data, expected=rgba_expected, tolerance=1),
        "grayscale_png": Case(
            "gray.png", _encode(Image.fromarray(gray), "PNG"), expected=np.repeat(gray[..., None], 3, 2)
        ),
        "exif_rotated_jpeg": Case("exif6.jpg", exif_data, expected=exif_expected),
        "one_pixel": Case(
            "one.png",
            _encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"),
            expected=np.array([[[10, 20, 30]]], np.uint8),
        ),
        "wide_10000x60": Case("wide.png", _encode(Image.fromarray(wide), "PNG"), expected=wide),
        "animated_gif": Case(
            "anim.gif",
            _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
            expected=np.broadcast_to(np.array([255, 0, 0], np.uint8), (48, 64, 3)),
        ),
    }


CASES = _cases()


def _assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: int) -> None:
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(int) - expected.astype(int))
    where = np.unravel_index(diff.argmax(), diff.shape)
    assert diff.max() <= tolerance, f"max |difference| {diff.max()} at {where}"


# ---- load_rgb ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_load_rgb(name, tmp_path):
    case = CASES[name]
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    for source in (path, case.data):
        if case.refusal:
            with pytest.raises(ImageLoadError, match=case.refusal):
                load_rgb(source)
            continue
        rgb = load_rgb(source)
        assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous
        _assert_close(rgb, case.expected, case.tolerance)


def test_generated_files_are_what_they_claim():
    """Guards the cases above: the bomb is tiny yet a complete image, the GIF animated, the JPEG CMYK."""
    bomb = CASES["bomb_64mp_valid"].data
    assert len(bomb) < 100_000
    with Image.open(io.BytesIO(bomb)) as image:
        assert image.size == (8000, 8000) and image.mode == "L"
    with Image.open(io.BytesIO(CASES["animated_gif"].data)) as gif:
        assert gif.n_frames == 2
    modes = {"cmyk_jpeg": "CMYK", "png_16bit": "I;16", "palette_png": "P", "rgba_png": "RGBA"}
    for name, mode in modes.items():
        with Image.open(io.BytesIO(CASES[name].data)) as image:
            assert image.mode == mode, name


# ---- EXIF orientation keeps ground truth aligned ----------------------------------------------------------
_INVERSE_TURNS = {3: 2, 6: 1, 8: -1}  # np.rot90 turns that store a picture so EXIF `orientation` shows it


@pytest.mark.parametrize("orientation", sorted(_INVERSE_TURNS))
def test_exif_rotated_fashionpedia_image_stays_aligned_with_its_masks(orientation, tmp_path):
    """A synthetic Fashionpedia image stored sideways with an EXIF tag, its json giving the displayed size:
    `load_image` must show it upright, on the same pixel grid as `semantic_map`."""
    source = FashionpediaSplit(SYNTHETIC_EXAMPLES / VAL_JSON, SYNTHETIC_EXAMPLES / "test")
    image_id = source.image_ids[0]
    upright = source.load_image(image_id)
    labels = source.semantic_map(image_id)
    info = source.image_info(image_id)

    stored = np.ascontiguousarray(np.rot90(upright, k=_INVERSE_TURNS[orientation]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    (tmp_path / "test").mkdir()
    Image.fromarray(stored).save(
        tmp_path / "test" / info["file_name"], quality=95, subsampling=0, exif=exif.tobytes()
    )
    raw = json.loads((SYNTHETIC_EXAMPLES / VAL_JSON).read_text())
    raw["images"] = [info]  # width/height: the displayed (upright) size
    raw["annotations"] = [a for a in raw["annotations"] if a["image_id"] == image_id]
    (tmp_path / VAL_JSON).write_text(json.dumps(raw))

    split = FashionpediaSplit(tmp_path / VAL_JSON, tmp_path / "test")
    rgb = split.load_image(image_id)
    assert rgb.shape[:2] == split.semantic_map(image_id).shape == labels.shape
    np.testing.assert_array_equal(split.semantic_map(image_id), labels)
    # upright again (JPEG noise only); a wrong turn would differ by ~60 grey levels on this picture
    assert np.abs(rgb.astype(int) - upright.astype(int)).mean() < 3
    # each garment's pixels keep their colour: per-label mean colour matches the original's
    for label in np.unique(labels):
        region = labels == label
        assert np.abs(rgb[region].mean(0) - upright[region].mean(0)).max() < 4, label


# ---- the app's upload path --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gradio_temp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gradio-temp")


@pytest.fixture(scope="module")
def app(gradio_temp, tmp_path_factory):
    from appserver import running_app

    env = {
        "FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path_factory.mktemp("no-checkpoints")),
        "FASHIONDEMO_MAX_FILE_SIZE": f"{MAX_FILE_SIZE_MB}mb",
        "GRADIO_TEMP_DIR": str(gradio_temp),
    }
    args = ("--random-weights", "--no-download", "--sam-variant", "vit_tiny_test")
    with running_app(*args, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uploads")
    for case in CASES.values():
        (folder / case.filename).write_bytes(case.data)
    (folder / "good.png").write_bytes(_encode(Image.fromarray(_gradient(40, 30)), "PNG"))
    return folder


def _assert_still_serving(client, files: Path) -> None:
    from gradio_client import handle_file

    labels_png, info = client.predict(handle_file(str(files / "good.png")), "", api_name="/ocrnet")
    assert np.asarray(Image.open(labels_png)).shape == (30, 40)
    assert (info["height"], info["width"]) == (30, 40)


@pytest.mark.parametrize("name", sorted(CASES))
def test_upload(name, client, files, app):
    """/compare with no prompts: its SAM panel is the decoded upload (a random-weights banner across the top
    rows), so the bottom half must equal what load_rgb makes of the file, pixel for pixel."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    case = CASES[name]
    upload = handle_file(str(files / case.filename))
    if case.refusal:
        with pytest.raises(AppError, match=case.app_refusal or case.refusal):
            client.predict(upload, "", "", api_name="/compare")
    else:
        ocrnet_png, sam_png, gt_png, info = client.predict(upload, "", "", api_name="/compare")
        panel = np.asarray(Image.open(sam_png).convert("RGB"))
        height, width = case.expected.shape[:2]
        assert panel.shape == (height, width, 3)
        assert np.asarray(Image.open(ocrnet_png)).shape[:2] == (height, width)
        assert gt_png is None and info["random_weights"] is True
        if height >= 48:  # the banner covers at most max(14, h / 12) rows
            _assert_close(panel[height // 2 :], case.expected[height // 2 :], case.tolerance)
    _assert_still_serving(client, files)


def test_transparent_upload_is_white_not_black(client, files):
    """Spelled out for the case that regressed: Gradio's gr.Image(image_mode="RGB") drops alpha (keeping the
    colour stored under it, usually black) before our loader can composite it."""
    from gradio_client import handle_file

    _, sam_png, _, _ = client.predict(handle_file(str(files / "rgba.png")), "", "", api_name="/compare")
    transparent = np.asarray(Image.open(sam_png).convert("RGB"))[40:, 35:55]
    assert (transparent == 255).all(), np.unique(transparent.reshape(-1, 3), axis=0)[:5]


def test_bomb_upload_is_refused_before_anything_decodes_it(client, files, gradio_temp):
    """The 64 MP bomb reaches our loader undecoded: no converted copy of it appears in Gradio's cache (with
    image_mode="RGB", Gradio would decode it and write a re-encoded copy before our check ran)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    stem = "bomb_copycheck"
    (files / f"{stem}.png").write_bytes(CASES["bomb_64mp_valid"].data)
    with pytest.raises(AppError, match="refused before decoding"):
        client.predict(handle_file(str(files / f"{stem}.png")), "", api_name="/ocrnet")
    copies = sorted(gradio_temp.rglob(f"{stem}*"))
    assert len(copies) == 1, copies  # the upload itself, nothing decoded from it
    assert copies[0].read_bytes() == CASES["bomb_64mp_valid"].data


def test_upload_over_the_size_limit_is_refused(client, files):
    """gradio_client reads the app's max_file_size and refuses before sending (the server's own 413 for a
    client that sends anyway is in test_security.py)."""
    from gradio_client import handle_file

    noise = np.random.default_rng(0).integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    big = files / "big_noise.png"
    big.write_bytes(_encode(Image.fromarray(noise), "PNG", compress_level=0))
    assert big.stat().st_size > 2 * MAX_FILE_SIZE_MB * 1_000_000
    limit = MAX_FILE_SIZE_MB * 1024 * 1024  # Gradio reads "1mb" as MiB
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {limit} bytes"):
        client.predict(handle_file(str(big)), "", api_name="/ocrnet")
    _assert_still_serving(client, files)


@pytest.mark.parametrize(
    ("name", "point"), [("one_pixel", (0, 0)), ("wide_10000x60", (9000, 30)), ("exif_rotated_jpeg", (10, 90))]
)
def test_sam_masks_odd_shapes_at_their_own_size(name, point, client, files):
    """SAM resizes the long side to 1024 (a 10000x60 image becomes 1024x6 before padding); its mask must
    still come back at the image's displayed size, and the point must be judged in displayed coordinates
    (x=10, y=90 exists only in the upright 64x96 EXIF picture)."""
    from gradio_client import handle_file

    case = CASES[name]
    prompts = json.dumps({"points": [list(point)]})
    mask_png, info = client.predict(handle_file(str(files / case.filename)), "", prompts, api_name="/sam")
    mask = np.asarray(Image.open(mask_png))
    assert mask.shape == case.expected.shape[:2] and set(np.unique(mask)) <= {0, 255}
    assert (info["height"], info["width"]) == case.expected.shape[:2] and len(info["scores"]) == 3
