"""Shared by MS-CXR and LATTE-CXR: phrase-box CSV rows on MIMIC-CXR images -> grounding drafts.

Both datasets annotate MIMIC-CXR images by `dicom_id`; one phrase may have several boxes (one CSV
row each). Rows are grouped by (dicom_id, label, phrase) into one grounding row with all its
boxes, so the IoU reward matches every box of the phrase. Images are looked up in a MIMIC-CXR-JPG
tree: the CSV's path column (a .dcm path becomes .jpg when no .dcm is there), then
files/pXX/pID/sID/<dicom_id>.jpg via the metadata csv, then by file name anywhere under the root.
Splits: the CSV's split column, else the official MIMIC split csv, else --default-split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from radrl_dist.data.prepare.common import Conversion, Draft, FatalInputError, RejectedSourceRow, find_file, norm_split, read_csv
from radrl_dist.data.prepare.images import index_images

_STUDY = re.compile(r"(?:^|/)(s\d{6,})(?:/|$)")


class MimicImages:
    """dicom_id (+ optional relative path) -> image file under a MIMIC-CXR-JPG root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._meta: dict[str, str] | None = None
        self._index: dict[str, str | None] | None = None

    def _from_meta(self, dicom_id: str) -> str | None:
        if self._meta is None:
            self._meta = {}
            try:
                meta = find_file(self.root, ["mimic-cxr-2.0.0-metadata.csv"], "metadata")
            except FatalInputError:
                return None
            for _, r in read_csv(meta, ["dicom_id", "subject_id", "study_id"]):
                s = r["subject_id"]
                self._meta[r["dicom_id"]] = f"files/p{s[:2]}/p{s}/s{r['study_id']}/{r['dicom_id']}.jpg"
        rel = self._meta.get(dicom_id)
        return str(self.root / rel) if rel and (self.root / rel).is_file() else None

    def find(self, dicom_id: str, rel_path: str = "") -> str | None:
        if rel_path:
            for cand in (self.root / rel_path, (self.root / rel_path).with_suffix(".jpg")):
                if cand.is_file():
                    return str(cand)
        hit = self._from_meta(dicom_id)
        if hit:
            return hit
        if self._index is None:
            self._index = index_images(self.root)
        return self._index.get(dicom_id)


def study_key(dicom_id: str, rel_path: str) -> str:
    """The MIMIC study (sXXXXXXXX) from a path when it has one, so leak checks work per study."""
    m = _STUDY.search(rel_path.replace("\\", "/"))
    return m.group(1) if m else dicom_id


class Splits:
    """Split per dicom_id: CSV column, official MIMIC split csv, or a default (recorded in notes)."""

    def __init__(self, images_root: Path, split_csv: Path | None, default: str, conv: Conversion) -> None:
        self.default, self.table = norm_split(default), {}
        path = split_csv
        if path is None:
            try:
                path = find_file(images_root, ["mimic-cxr-2.0.0-split.csv"], "split")
            except FatalInputError:
                path = None
        if path is not None:
            self.table = {r["dicom_id"]: r["split"] for _, r in read_csv(path, ["dicom_id", "split"])}
        conv.notes["split_fallback"] = path.name if path is not None else f"default ({self.default})"

    def get(self, dicom_id: str, column_value: str, where: str) -> str:
        if column_value:
            return norm_split(column_value, where)
        if dicom_id in self.table:
            return norm_split(self.table[dicom_id], where)
        return self.default


@dataclass
class PhraseGroup:
    dicom_id: str
    label: str | None
    phrase: str
    rel_path: str
    split_value: str
    source: str
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    size: tuple[float, float] | None = None
    error: str = ""


def to_drafts(groups: list[PhraseGroup], images: MimicImages, splits: Splits, conv: Conversion) -> None:
    """Append one grounding draft per group (or its error)."""
    for g in groups:
        key = study_key(g.dicom_id, g.rel_path)
        if g.error:
            conv.errors.append(RejectedSourceRow("bad_box" if "box" in g.error else "bad_value", g.error, g.source, key))
            continue
        if not g.phrase:
            conv.errors.append(RejectedSourceRow("bad_value", "empty phrase", g.source, key))
            continue
        try:
            split = splits.get(g.dicom_id, g.split_value, f"{g.source}: ")
        except ValueError as exc:
            conv.errors.append(RejectedSourceRow("bad_value", str(exc), g.source, key))
            continue
        src = images.find(g.dicom_id, g.rel_path)
        pv = {"phrase": g.phrase, "label": g.label or "", "image_id": g.dicom_id}
        conv.drafts.append(Draft(
            study_id=key, task="grounding", split=split, image_sources=[src],
            boxes=[(g.label, g.phrase, *b) for b in g.boxes], box_space=g.size,
            prompt_vars={k: v for k, v in pv.items() if v}, source=g.source,
            missing_hint=f"{g.dicom_id} ({g.rel_path or 'no path'}) under {images.root}"))
