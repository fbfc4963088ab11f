"""Fixture writers for the converter tests: images (PNG/JPEG/DICOM) and a CLI runner.

Each dataset's test writes its files in the dataset's real layout and column names; images are
generated here (small, with known sizes) since the datasets themselves are credentialed.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from radrl_dist.data.prepare.__main__ import main
from radrl_dist.data.schema import Study


def write_image(path: Path, size: tuple[int, int] = (64, 48), value: int = 128) -> Path:
    """A grayscale PNG/JPEG of (width, height) with a gradient (so resizing has content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    arr = (np.add.outer(np.arange(h), np.arange(w)) % 256).astype(np.uint8)
    arr[: h // 4, : w // 4] = value
    Image.fromarray(arr).save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else Image.fromarray(arr).save(path)
    return path


def write_dicom(path: Path, arr: np.ndarray, photometric: str = "MONOCHROME2", wc=None, ww=None,
                lut: list[int] | None = None, slope=None, intercept=None) -> Path:
    """An uncompressed 12-bit DX DICOM, the way CXR files are stored."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    if wc is not None:
        ds.WindowCenter, ds.WindowWidth = wc, ww
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(lut), 0, 16]
        item["LUTData"] = pydicom.DataElement(0x00283006, "US", list(lut))
        ds.VOILUTSequence = Sequence([item])
    ds.PixelData = arr.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def run(dataset: str, root: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """Run the CLI in-process; (exit code, summary.json)."""
    code = main([dataset, "--root", str(root), "--out", str(out), *extra])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return code, summary


def rows(out: Path, split: str) -> list[Study]:
    return [Study.from_row(r) for r in pq.read_table(out / f"{split}.parquet").to_pylist()]


def all_rows(out: Path) -> list[Study]:
    return [s for sp in ("train", "val", "test") for s in rows(out, sp)]


def errors(out: Path) -> list[dict]:
    p = out / "errors.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def parquet_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.parquet"))


@pytest.fixture
def mk() -> SimpleNamespace:
    return SimpleNamespace(image=write_image, dicom=write_dicom, csv=write_csv, run=run, rows=rows,
                           all_rows=all_rows, errors=errors, parquet_files=parquet_files)
