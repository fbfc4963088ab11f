"""The Parquet row schema of DESIGN.md section 2: one row per (study, task).

Boxes are floats in *source-image* pixels; each model family's codec maps them to and from its own
text format. `reference_labels` is 14 x int8 in CheXbert order (see radrl_dist.constants), or null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from radrl_dist.boxes.box import Box
from radrl_dist.constants import NUM_OBSERVATIONS, TASKS

BOX_TYPE = pa.struct(
    [
        ("label", pa.string()),
        ("phrase", pa.string()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
    ]
)

STUDY_SCHEMA = pa.schema(
    [
        ("study_id", pa.string()),
        ("image_paths", pa.list_(pa.string())),
        ("task", pa.string()),
        ("prompt_vars", pa.map_(pa.string(), pa.string())),
        ("reference_report", pa.string()),
        ("reference_labels", pa.list_(pa.int8())),
        ("boxes", pa.list_(BOX_TYPE)),
        ("image_size", pa.struct([("width", pa.int32()), ("height", pa.int32())])),
        ("split", pa.string()),
        ("dataset", pa.string()),
    ]
)


@dataclass
class Study:
    """One training or evaluation example: a study (one or more images) and one task."""

    study_id: str
    image_paths: list[str]
    task: str
    reference_report: str = ""
    reference_labels: list[int] | None = None
    boxes: list[Box] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the first image, in source pixels
    split: str = "train"
    prompt_vars: dict[str, str] = field(default_factory=dict)
    dataset: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"study {self.study_id}: task must be one of {TASKS}, got {self.task!r}")
        if self.reference_labels is not None and len(self.reference_labels) != NUM_OBSERVATIONS:
            raise ValueError(
                f"study {self.study_id}: reference_labels must have {NUM_OBSERVATIONS} entries, "
                f"got {len(self.reference_labels)}"
            )

    def to_row(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "image_paths": list(self.image_paths),
            "task": self.task,
            "prompt_vars": list(self.prompt_vars.items()),
            "reference_report": self.reference_report,
            "reference_labels": None if self.reference_labels is None else [int(v) for v in self.reference_labels],
            "boxes": [
                {"label": b.label, "phrase": b.phrase, "x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2}
                for b in self.boxes
            ],
            "image_size": {"width": int(self.image_size[0]), "height": int(self.image_size[1])},
            "split": self.split,
            "dataset": self.dataset,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Study":
        size = row.get("image_size") or {"width": 0, "height": 0}
        pv = row.get("prompt_vars") or []
        return cls(
            study_id=str(row["study_id"]),
            image_paths=list(row.get("image_paths") or []),
            task=row["task"],
            reference_report=row.get("reference_report") or "",
            reference_labels=None if row.get("reference_labels") is None else list(row["reference_labels"]),
            boxes=[
                Box(b["x1"], b["y1"], b["x2"], b["y2"], b.get("label"), b.get("phrase"))
                for b in (row.get("boxes") or [])
            ],
            image_size=(int(size["width"] or 0), int(size["height"] or 0)),
            split=row.get("split") or "train",
            prompt_vars=dict(pv) if not isinstance(pv, dict) else pv,
            dataset=row.get("dataset"),
        )


def studies_to_table(studies: list[Study]) -> pa.Table:
    """Rows -> a table in STUDY_SCHEMA (the only way Parquet files are written, so the schema holds)."""
    return pa.Table.from_pylist([s.to_row() for s in studies], schema=STUDY_SCHEMA)
