"""Batches of Study rows from Parquet, in a seeded order with a cursor that survives a restart.

The order of epoch e is a permutation drawn from (seed, e) alone, so the cursor (epoch, position)
is all a checkpoint needs: a reader rebuilt from the same files, filters and seed and given the
saved cursor yields exactly the batch the killed run would have yielded next. Images are not read
here; `load_study_images` opens them when a consumer (the rollout actor) needs the pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radrl_dist.data.images import ImageLoadError, load_image
from radrl_dist.data.schema import Study


@dataclass(frozen=True)
class Cursor:
    """Where the next batch starts: `position` rows into the permutation of `epoch`."""

    epoch: int = 0
    position: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Cursor":
        return cls(int(d["epoch"]), int(d["position"]))


def parquet_files(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """One file, or every *.parquet under a folder (sorted, so the row order is stable), or a list of
    those in the order given (one run reading several datasets' train files)."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise FileNotFoundError("an empty list of Parquet paths")
        return [f for one in path for f in parquet_files(one)]
    p = Path(path)
    if p.is_dir():
        files = sorted(p.rglob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"no *.parquet files under {p}")
        return files
    if not p.is_file():
        raise FileNotFoundError(f"Parquet path {p} does not exist")
    return [p]


def read_table(path: str | Path) -> pa.Table:
    """All rows of a file or folder, with image paths made absolute (relative ones are taken
    against the folder of the Parquet file they came from)."""
    tables = []
    for f in parquet_files(path):
        t = pq.read_table(f)
        missing = [n for n in ("study_id", "image_paths", "task") if n not in t.column_names]
        if missing:
            raise ValueError(f"{f}: not a study table, missing column(s) {missing}; expected STUDY_SCHEMA")
        base = f.resolve().parent
        paths = [[p if p is None or Path(p).is_absolute() else str(base / p) for p in (v or [])]
                 for v in t.column("image_paths").to_pylist()]
        t = t.set_column(t.column_names.index("image_paths"), "image_paths",
                         pa.array(paths, type=pa.list_(pa.string())))
        tables.append(t)
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def filter_rows(table: pa.Table, split: str | None = None, tasks: Iterable[str] | None = None) -> pa.Table:
    mask = np.ones(table.num_rows, dtype=bool)
    if split is not None and "split" in table.column_names:
        mask &= np.array([s == split for s in table.column("split").to_pylist()], dtype=bool)
    if tasks is not None:
        allowed = set(tasks)
        mask &= np.array([t in allowed for t in table.column("task").to_pylist()], dtype=bool)
    return table.filter(pa.array(mask))


class StudyReader:
    """Seeded, resumable batches of Study objects from a Parquet file or folder.

    Every batch is full: when an epoch runs out mid-batch, the rest of the batch comes from the
    start of the next epoch's order, so no row is skipped and batch shapes never change.
    """

    def __init__(self, path: str | Path | pa.Table, batch_size: int, seed: int = 0, split: str | None = None,
                 tasks: Iterable[str] | None = None, shuffle: bool = True, cursor: Cursor | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        table = path if isinstance(path, pa.Table) else read_table(path)
        self.rows = filter_rows(table, split, tasks).to_pylist()
        if not self.rows:
            raise ValueError(f"no rows in {path if not isinstance(path, pa.Table) else 'table'} "
                             f"for split={split!r} tasks={None if tasks is None else sorted(tasks)}")
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.cursor = cursor or Cursor()

    def __len__(self) -> int:
        return len(self.rows)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.rows))
        return np.random.default_rng(np.random.SeedSequence([int(self.seed), int(epoch)])).permutation(len(self.rows))

    def state_dict(self) -> dict[str, int]:
        return self.cursor.to_dict()

    def load_state_dict(self, state: dict) -> None:
        c = Cursor.from_dict(state)
        if c.position < 0 or c.position > len(self.rows):
            raise ValueError(f"cursor position {c.position} is outside 0..{len(self.rows)} rows; "
                             "was it saved for a different dataset or filter?")
        self.cursor = c

    def next_batch(self) -> list[Study]:
        """The next `batch_size` studies, crossing into the next epoch when this one runs out."""
        out: list[Study] = []
        epoch, pos = self.cursor.epoch, self.cursor.position
        while len(out) < self.batch_size:
            order = self.order(epoch)
            if pos >= len(order):
                epoch, pos = epoch + 1, 0
                continue
            take = order[pos: pos + self.batch_size - len(out)]
            out.extend(Study.from_row(self.rows[int(i)]) for i in take)
            pos += len(take)
        self.cursor = Cursor(epoch, pos)
        return out

    def __iter__(self) -> Iterator[list[Study]]:
        while True:
            yield self.next_batch()


def read_studies(path: str | Path, split: str | None = None, tasks: Iterable[str] | None = None) -> list[Study]:
    """Every matching row as a Study, in file order (evaluation, small tools)."""
    return [Study.from_row(r) for r in filter_rows(read_table(path), split, tasks).to_pylist()]


def load_study_images(study: Study) -> list:
    """The study's images as RGB PIL images (ImageLoadError names the study and the file)."""
    try:
        return [load_image(p) for p in study.image_paths]
    except ImageLoadError as exc:
        raise ImageLoadError(f"study {study.study_id} ({study.task}): {exc}") from exc


__all__ = ["Cursor", "StudyReader", "load_study_images", "parquet_files", "read_studies", "read_table"]
