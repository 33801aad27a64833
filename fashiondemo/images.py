"""Decode any image people hand us into RGB uint8 HxWx3, or refuse it with a clear message (Pillow + numpy).

One loader for dataset images, uploads and examples, so every path sees the same rules:
- the declared pixel count is checked before any pixel is decoded (a 40 KB PNG can declare 100k x 100k px);
- EXIF orientation is applied, except where the annotation json's width/height says the annotators saw the
  stored (un-rotated) pixels, so ground-truth masks stay aligned with the picture;
- every mode becomes RGB the way a person would expect: 16-bit scaled (not clipped) to 8 bit, palette and
  grayscale expanded, CMYK converted, transparency composited over white (not black), animations -> frame 0.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 50 megapixels: above any Fashionpedia image (the largest are ~20 MP) and far below what exhausts memory.
MAX_PIXELS = 50_000_000

# EXIF orientations 5..8 swap width and height (transpose, rotate 90/270, transverse).
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION_TAG = 0x0112


class ImageLoadError(ValueError):
    """An image that cannot or must not be decoded; the message says which file and why."""


def _describe(source: str | os.PathLike | bytes) -> str:
    return (
        f"{len(source)} bytes of image data" if isinstance(source, bytes | bytearray) else f"image {source}"
    )


def _open(source: str | os.PathLike | bytes) -> Image.Image:
    where = _describe(source)
    try:
        with warnings.catch_warnings():
            # Pillow warns (then raises) on its own, larger limit; we enforce MAX_PIXELS ourselves below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if isinstance(source, bytes | bytearray):
                return Image.open(io.BytesIO(source))
            return Image.open(Path(source))
    except FileNotFoundError:
        raise ImageLoadError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{where}: is a directory, not an image file") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{where}: not an image (Pillow recognises no image format in it)") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own check (at 2x its MAX_IMAGE_PIXELS) fires inside open(), before ours can.
        raise ImageLoadError(
            f"{where}: declares too many pixels, refused before decoding (possible decompression bomb; {exc})"
        ) from None
    except OSError as exc:  # e.g. "Truncated File Read" when even the header is cut off
        raise ImageLoadError(f"{where}: cannot be opened, the file is truncated or corrupt ({exc})") from None


def _check_pixel_count(image: Image.Image, where: str, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{where}: declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{where}: declares {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
            f"{max_pixels / 1e6:.0f} MP limit; refused before decoding (possible decompression bomb)"
        )


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a corrupt EXIF block is common in the wild; treat it as "no orientation"
        return 1


def _choose_transpose(image: Image.Image, expected_size: tuple[int, int] | None, where: str) -> bool:
    """Whether to apply EXIF orientation, checking the result against the json's (width, height)."""
    stored = image.size
    orientation = _orientation(image)
    oriented = (stored[1], stored[0]) if orientation in _SWAPPING_ORIENTATIONS else stored
    if expected_size is None:
        return orientation != 1
    expected = (int(expected_size[0]), int(expected_size[1]))
    if oriented == expected:
        return orientation != 1
    if stored == expected:
        # The annotators' tool showed the stored pixels (it ignored EXIF): keep them so the masks line up.
        return False
    raise ImageLoadError(
        f"{where}: decoded size {oriented[0]}x{oriented[1]} (width x height"
        + (
            f", stored {stored[0]}x{stored[1]} with EXIF orientation {orientation}"
            if oriented != stored
            else ""
        )
        + f") does not match the annotation's {expected[0]}x{expected[1]}"
    )


def _sixteen_bit_to_uint8(array: np.ndarray) -> np.ndarray:
    # Full 16-bit range -> 8 bit by scaling (65535 -> 255), not by clipping at 255.
    return np.clip(np.rint(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale PNGs decode as I;16 or I (int32 holding 0..65535).
        gray = _sixteen_bit_to_uint8(np.asarray(image))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX ...: Pillow's converters handle these (CMYK via its ink model).
    return np.asarray(image.convert("RGB"))


def load_rgb(
    source: str | os.PathLike | bytes,
    *,
    expected_size: tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Decode an image file (path) or its bytes into RGB.

    Args:
        source: a path, or the encoded bytes of a JPEG/PNG/GIF/WebP/... image.
        expected_size: (width, height) from an annotation json; when given, the decoded size must match, and
            EXIF orientation is applied only where that gives the expected size (see `_choose_transpose`).
        max_pixels: refuse images declaring more pixels than this, before decoding any.

    Returns:
        np.ndarray of shape (H, W, 3), dtype uint8, RGB, C-contiguous. Animated images give their first frame.

    Raises:
        ImageLoadError: missing file, not an image, decompression bomb, truncated/corrupt data, size mismatch.
    """
    where = _describe(source)
    with _open(source) as image:
        _check_pixel_count(image, where, max_pixels)
        transpose = _choose_transpose(image, expected_size, where)
        try:
            image.seek(0)  # first frame of an animated GIF/WebP/APNG
            image.load()
        except OSError as exc:
            # Pillow says "image file is truncated" / "broken data stream"; keep its words after ours.
            raise ImageLoadError(f"{where}: image data is truncated or corrupt ({exc})") from None
        except (ValueError, SyntaxError) as exc:
            raise ImageLoadError(f"{where}: image data is corrupt ({exc})") from None
        frame = ImageOps.exif_transpose(image) if transpose else image
        rgb = _to_rgb_array(frame)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageLoadError(f"{where}: decoded to an unexpected array {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def image_size(source: str | os.PathLike | bytes, *, apply_exif: bool = True) -> tuple[int, int]:
    """(width, height) as `load_rgb` would return it without expected_size, reading only the header."""
    where = _describe(source)
    with _open(source) as image:
        _check_pixel_count(image, where, MAX_PIXELS * 1000)
        width, height = image.size
        if apply_exif and _orientation(image) in _SWAPPING_ORIENTATIONS:
            return height, width
        return width, height
