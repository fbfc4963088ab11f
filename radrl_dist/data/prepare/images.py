"""Image handling for the converters: read JPEG/PNG (PIL) and DICOM (pydicom), window to 8 bits, resize.

Why a rule is recorded: boxes in the Parquet rows are in the pixels of the file `image_paths[0]`
points to. When we convert (DICOM -> PNG) or shrink (`--max-side`), the written file differs from the
dataset's original pixels, so every image gets an `ImageInfo` with `scale_x = width / orig_width`
(and y): `original_pixel = written_pixel / scale`. The converters put these in `prompt_vars` and in
the `images.jsonl` sidecar so boxes can always be mapped back to the dataset's own coordinates.

DICOM to 8 bits, in DICOM's order: Modality LUT (RescaleSlope/Intercept), then VOI: a VOI LUT
Sequence if present, else WindowCenter/WindowWidth (linear, PS3.3 C.11.2.1.2), else min-max of the
pixel values; then MONOCHROME1 is inverted so that air is always dark.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from radrl_dist.data.images import ImageOpenError, decode_errors, open_image

DICOM_SUFFIXES = (".dcm", ".dicom")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = RASTER_SUFFIXES + DICOM_SUFFIXES


class ImageError(ValueError):
    """An image that cannot be read or converted; becomes a per-row error, never a crash."""


@dataclass(frozen=True)
class ImageInfo:
    """Where an image ended up and how its pixels relate to the original's."""

    source: str  # the dataset's file
    path: str  # the file rows point to (== source when nothing was rewritten)
    width: int
    height: int
    orig_width: int
    orig_height: int
    scale_x: float  # path pixels per original pixel
    scale_y: float
    method: str  # "none" | "resize" | "dicom:window" | "dicom:voi_lut" | "dicom:minmax" (+ "+resize")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def is_dicom(path: str | Path) -> bool:
    p = Path(path)
    if p.suffix.lower() in DICOM_SUFFIXES:
        return True
    if p.suffix.lower() in RASTER_SUFFIXES:
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _linear_window(arr: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM linear VOI function (PS3.3 C.11.2.1.2), to 0..1."""
    width = max(float(width), 1.0)
    if width == 1.0:
        return (arr >= center - 0.5).astype(np.float64)
    out = (arr - (center - 0.5)) / (width - 1.0) + 0.5
    return np.clip(out, 0.0, 1.0)


def _first(value: Any) -> float:
    """WindowCenter/Width may be multi-valued; the first is the default view."""
    try:
        return float(value[0])
    except (TypeError, IndexError):
        return float(value)


def dicom_to_uint8(ds: Any) -> tuple[np.ndarray, str]:
    """Pixels of a pydicom Dataset -> (uint8 HxW array, method used)."""
    try:
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken pixel data
        raise ImageError(f"cannot decode DICOM pixel data: {exc}") from exc
    if arr.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 3:
        return np.asarray(Image.fromarray(arr.astype(np.uint8)).convert("L")), "dicom:rgb"
    if arr.ndim != 2:
        raise ImageError(f"DICOM pixel array has shape {arr.shape}; only single-frame 2-D images are supported")
    values = apply_modality_lut(arr, ds).astype(np.float64)
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        lut_out = apply_voi_lut(np.rint(values).astype(np.int64), ds, index=0, prefer_lut=True)
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
        lo, hi = float(lut.min()), float(lut.max())
        unit = (lut_out.astype(np.float64) - lo) / max(hi - lo, 1e-9)
        method = "dicom:voi_lut"
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        unit = _linear_window(values, _first(ds.WindowCenter), _first(ds.WindowWidth))
        method = "dicom:window"
    else:
        lo, hi = float(values.min()), float(values.max())
        unit = (values - lo) / max(hi - lo, 1e-9)
        method = "dicom:minmax"
    out = np.clip(np.rint(np.clip(unit, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 255 - out
    return out, method


def resized_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The rule: shrink (never enlarge) so the longer side is `max_side`, aspect kept, rounded."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("I;16", "I;16B", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        return Image.fromarray(((arr - lo) / max(hi - lo, 1e-9) * 255).round().astype(np.uint8))
    return img.convert("L" if img.mode in ("LA", "1", "P") else "RGB")


def prepare_image(source: str, out_path: str | None, max_side: int | None = None, verify: bool = False) -> ImageInfo:
    """Read one image, convert/resize it if needed, and say how its pixels map to the source's.

    DICOM is always rewritten as PNG at `out_path`; JPEG/PNG are rewritten (same format) only when
    `max_side` shrinks them. `verify` fully decodes files that are otherwise only header-checked.
    """
    if not os.path.isfile(source):
        raise ImageError(f"image file not found: {source}")
    if is_dicom(source):
        try:
            ds = pydicom.dcmread(source)
        except Exception as exc:  # noqa: BLE001
            raise ImageError(f"unreadable DICOM {source}: {exc}") from exc
        arr, method = dicom_to_uint8(ds)
        img = Image.fromarray(arr)
        if out_path is None:
            raise ImageError("DICOM needs an output path for the converted PNG")
        out_path = str(Path(out_path).with_suffix(".png"))
    else:
        try:
            img = open_image(source)  # header parsed, size checked against the pixel limit (bombs)
            if verify or max_side:
                img.load()
        except (ImageOpenError, *decode_errors()) as exc:
            raise ImageError(f"unreadable image {source}: {exc}") from exc
        method = "none"
    ow, oh = img.size
    w, h = resized_size(ow, oh, max_side)
    if (w, h) != (ow, oh):
        img = _to_8bit(img).resize((w, h), Image.Resampling.LANCZOS)
        method = "resize" if method == "none" else method + "+resize"
    if method == "none":
        return ImageInfo(source, source, ow, oh, ow, oh, 1.0, 1.0, method)
    assert out_path is not None, "a rewritten image needs out_path"
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{out_path}.tmp{os.getpid()}{Path(out_path).suffix}"
    _to_8bit(img).save(tmp, quality=95) if Path(out_path).suffix.lower() in (".jpg", ".jpeg") else _to_8bit(img).save(tmp)
    os.replace(tmp, out_path)
    return ImageInfo(source, out_path, w, h, ow, oh, w / ow, h / oh, method)


def _job(args: tuple[str, str | None, int | None, bool]) -> ImageInfo | str:
    try:
        return prepare_image(*args)
    except ImageError as exc:
        return str(exc)


def prepare_images(
    jobs: Iterable[tuple[str, str | None]], max_side: int | None, verify: bool, workers: int = 1
) -> dict[str, ImageInfo | str]:
    """source -> ImageInfo, or -> an error message for that image. Parallel when workers > 1."""
    todo = [(src, out, max_side, verify) for src, out in dict(jobs).items()]
    if workers <= 1 or len(todo) < 2:
        results = [_job(j) for j in todo]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_job, todo, chunksize=max(1, len(todo) // (workers * 8))))
    return {j[0]: r for j, r in zip(todo, results)}


def index_images(root: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, str | None]:
    """File stem -> path for every image under root (None when a stem is ambiguous)."""
    index: dict[str, str | None] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            stem, suffix = os.path.splitext(name)
            if suffix.lower() not in suffixes:
                continue
            path = os.path.join(dirpath, name)
            index[stem] = None if stem in index and index[stem] != path else path
    return index
