"""The one way this package opens an image file: every failure is an `ImageOpenError`, never a crash.

Why: PIL raises `DecompressionBombError` (not an OSError) for images over twice its pixel limit and
only warns between one and two times it, so a caller that catches OSError lets one oversized file
take down `data.validate` or a rollout actor. Here the size is checked from the header, before any
pixel is decoded, against an explicit limit (`data.max_image_pixels`), and PIL's own bomb error
becomes the same per-image error. Callers turn it into a per-row (validation) or per-study
(rollout) error naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from radrl_dist.config.schema import DataConfig

# Largest image (width x height) opened by default (`data.max_image_pixels`): 50 MP is far above any
# chest film (MIMIC-CXR-JPG tops out near 4k x 5k = 20 MP) and far below what decodes to GBs of RGB.
DEFAULT_MAX_IMAGE_PIXELS: int = DataConfig.model_fields["max_image_pixels"].default


class ImageOpenError(ValueError):
    """An image that cannot be used; `kind` is missing_image | unreadable_image | image_too_large."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def open_image(path: str | Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """The opened image with its header parsed and its size checked; pixels are not decoded yet.

    Use as a context manager (`with open_image(p) as im: im.load()`). Decoding errors that only show
    when pixels are read (truncated files) are the caller's to catch, with `decode_errors`.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageOpenError("missing_image", f"image file {path} does not exist")
    try:
        with warnings.catch_warnings():
            # our own limit below replaces PIL's warning; PIL's hard error (2x its limit) still applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except Image.DecompressionBombError as exc:
        raise ImageOpenError("image_too_large", f"image {path} is too large to open safely: {exc}") from None
    except decode_errors() as exc:
        raise ImageOpenError("unreadable_image", f"cannot read image {path}: {exc}") from exc
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageOpenError("image_too_large", f"image {path} is {w}x{h} = {w * h:,} pixels, over the limit of "
                                                f"{max_pixels:,} (data.max_image_pixels)")
    return im


def decode_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file it cannot parse or decode (truncated, corrupt, wrong format)."""
    return (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def image_size(path: str | Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, decode: bool = False) -> tuple[int, int]:
    """(width, height) of a usable image; `decode` reads every pixel (catches truncation), otherwise
    PIL's structural check runs (headers and chunk checksums). Raises ImageOpenError."""
    with open_image(path, max_pixels) as im:
        size = im.size
        try:
            im.load() if decode else im.verify()
        except decode_errors() as exc:
            raise ImageOpenError("unreadable_image", f"cannot read image {path}: {exc}") from exc
    return size


def load_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Fully decoded RGB image (grayscale radiographs replicated to 3 channels, as processors expect)."""
    with open_image(path, max_pixels) as im:
        try:
            im.load()
            return im.convert("RGB")
        except decode_errors() as exc:
            raise ImageOpenError("unreadable_image", f"cannot read image {path}: {exc}") from exc


class ImageLoadError(ValueError):
    """A study's image is missing or unreadable (reported by study id, never silently skipped)."""


def load_image(path: str | Path) -> Image.Image:
    """RGB PIL image (grayscale radiographs are replicated to 3 channels, as the processors expect).
    Opened through `open_image`, so an oversized file (a decompression bomb) is a per-study error too."""
    try:
        return load_rgb(path)
    except ImageOpenError as exc:
        raise ImageLoadError(str(exc)) from exc


__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "ImageLoadError", "ImageOpenError", "decode_errors", "image_size", "load_image",
           "load_rgb", "open_image"]
