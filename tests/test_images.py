"""images.load_rgb: every kind of file people hand us becomes RGB uint8 HxWx3, or a clear ImageLoadError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fashiondemo.images import ImageLoadError, image_size, load_rgb


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _gradient(width: int = 40, height: int = 30) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack(
        [xs * 255 // max(1, width - 1), ys * 255 // max(1, height - 1), np.full_like(xs, 90)], -1
    ).astype(np.uint8)


def _with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes())


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _bomb_png(width: int, height: int) -> bytes:
    """A ~100-byte PNG declaring width x height pixels (its data stream is not even there)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_rgb_jpeg_from_path_and_bytes(tmp_path):
    data = _encode(Image.fromarray(_gradient()), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    from_path, from_bytes = load_rgb(tmp_path / "a.png"), load_rgb(data)
    assert from_path.dtype == np.uint8 and from_path.shape == (30, 40, 3)
    assert np.array_equal(from_path, _gradient()) and np.array_equal(from_bytes, from_path)
    assert from_path.flags.c_contiguous


def test_exif_orientation_is_applied():
    rgb = _gradient(40, 30)
    rotated = load_rgb(_with_orientation(rgb, 6))  # 6: rotate 90 degrees clockwise to display
    assert rotated.shape == (40, 30, 3)
    expected = np.rot90(rgb, k=-1)
    assert np.abs(rotated.astype(int) - expected).mean() < 4


def test_exif_orientation_follows_the_json_size():
    rgb = _gradient(40, 30)
    data = _with_orientation(rgb, 6)
    assert load_rgb(data, expected_size=(30, 40)).shape == (40, 30, 3)  # json agrees with the rotated picture
    # json has the stored size: the annotators saw the raw pixels, so keep them (masks stay aligned)
    assert load_rgb(data, expected_size=(40, 30)).shape == (30, 40, 3)
    with pytest.raises(ImageLoadError, match=r"decoded size 30x40 .*EXIF orientation 6.* annotation's 50x50"):
        load_rgb(data, expected_size=(50, 50))
    assert image_size(data) == (30, 40) and image_size(data, apply_exif=False) == (40, 30)


def test_size_mismatch_without_exif():
    with pytest.raises(ImageLoadError, match=r"decoded size 40x30 .* does not match the annotation's 30x40"):
        load_rgb(_encode(Image.fromarray(_gradient()), "PNG"), expected_size=(30, 40))


def test_decompression_bomb_refused_before_decoding():
    data = _bomb_png(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(ImageLoadError, match="too many pixels, refused before decoding"):
        load_rgb(data)
    with pytest.raises(ImageLoadError, match=r"12000x10000 = 120\.0 megapixels, over the 50 MP limit"):
        load_rgb(_bomb_png(12_000, 10_000))  # under Pillow's own limit (179 MP), over ours
    with pytest.raises(ImageLoadError, match="over the 1 MP limit; refused before decoding"):
        load_rgb(_bomb_png(2000, 1000), max_pixels=1_000_000)


def test_truncated_jpeg():
    data = _encode(Image.fromarray(_gradient(200, 150)), "JPEG", quality=95)
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_rgb(data[:200])


def test_not_an_image_and_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not an image"):
        load_rgb(b"%PDF-1.4 this is a pdf, not a picture")
    with pytest.raises(ImageLoadError, match="file not found"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="directory"):
        load_rgb(tmp_path)


def test_sixteen_bit_png_is_scaled_not_clipped():
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    data = _encode(Image.fromarray(values), "PNG")
    rgb = load_rgb(data)
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # full magenta + yellow ink = red
    rgb = load_rgb(_encode(cmyk, "JPEG", quality=95))
    assert rgb.shape == (8, 16, 3)
    assert rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 50 and rgb[..., 2].mean() < 50


def test_palette_png_and_grayscale():
    palette = Image.fromarray(_gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    rgb = load_rgb(_encode(palette, "PNG"))
    assert rgb.shape == (30, 40, 3) and np.array_equal(rgb, np.asarray(palette.convert("RGB")))
    gray = load_rgb(_encode(Image.fromarray(np.full((5, 6), 77, np.uint8)), "PNG"))
    assert gray.shape == (5, 6, 3) and (gray == 77).all()


def test_transparency_is_composited_over_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :2, 3] = 255  # left half opaque red, right half fully transparent
    rgb = load_rgb(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert rgb[:, :2].tolist() == [[[255, 0, 0]] * 2] * 4
    assert rgb[:, 2:].tolist() == [[[255, 255, 255]] * 2] * 4
    half = rgba.copy()
    half[..., 3] = 128
    assert load_rgb(_encode(Image.fromarray(half, "RGBA"), "PNG"))[0, 0].tolist() == [255, 127, 127]


def test_tiny_and_very_thin_images():
    assert load_rgb(_encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")).tolist() == [[[1, 2, 3]]]
    thin = load_rgb(_encode(Image.new("RGB", (10000, 60), (9, 9, 9)), "JPEG"))
    assert thin.shape == (60, 10000, 3)


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 2
    rgb = load_rgb(data)
    assert rgb.shape == (8, 8, 3) and rgb[0, 0].tolist() == [255, 0, 0]
