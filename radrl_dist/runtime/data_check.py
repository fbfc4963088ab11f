"""Validate every row a run will read before any actor starts (train and held-out, phantom data too).

Why here and not in the rollout: a bad row found mid-run (an image PIL refuses, an empty reference,
a NaN box, a label id out of range) either kills the run after the rollout's retries or is trained
on silently. Checked up front, it is named by file, row and study id with exactly the messages of
`python -m radrl_dist.data.validate`, and `data.max_bad_rows` says how many a run may skip.
Skipped rows are dropped by writing the good rows to `<work_dir>/checked_data/` and pointing the
config there, so the sampler, the held-out set and the checkpoint cursor all see the same rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.data.schema import STUDY_SCHEMA
from radrl_dist.data.validate import DataValidationError, ValidationResult, validate
from radrl_dist.runtime.data_setup import resolve_data

CHECKED_DIR = "checked_data"


def check_run_data(cfg: RadRLConfig, work_dir: str | Path | None = None) -> RadRLConfig:
    """`cfg` itself when every row the run reads is good; with up to `data.max_bad_rows` bad rows a
    config that reads only the good ones (written under `work_dir`, default `logging.output_dir`);
    with more, DataValidationError listing them, before anything is started."""
    d = cfg.data
    paths = resolve_data(d)
    tasks = [t for t, w in d.task_mix.items() if w > 0]
    parts: dict[str, ValidationResult] = {
        "train": validate(paths.train, drop_bad=True, split=paths.train_split, tasks=tasks,
                          max_pixels=d.max_image_pixels)}
    if paths.eval:
        parts["eval"] = validate(paths.eval, drop_bad=True, split=paths.eval_split, tasks=tasks,
                                 max_pixels=d.max_image_pixels)
    errors = [e for r in parts.values() for e in r.errors]
    if not errors:
        return cfg
    n_bad = len({(e.source, e.row) for e in errors})
    if n_bad > d.max_bad_rows:
        raise DataValidationError(errors, header=(
            f"training data has bad rows and data.max_bad_rows is {d.max_bad_rows}: fix them (python -m "
            f"radrl_dist.data.validate PATH lists the same) or raise data.max_bad_rows to skip them.\n"))
    out = Path(work_dir if work_dir is not None else cfg.logging.output_dir) / CHECKED_DIR
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, res in parts.items():
        written[name] = str(out / f"{name}.parquet")
        pq.write_table(pa.Table.from_pylist(res.rows, schema=STUDY_SCHEMA), written[name])
    listing = "\n".join(f"  {e}" for e in errors)
    print(f"warning: skipping {n_bad} bad row(s) of the training data (data.max_bad_rows={d.max_bad_rows}):\n"
          f"{listing}\n  the run reads the {sum(len(r.rows) for r in parts.values())} good row(s) from {out}",
          file=sys.stderr, flush=True)
    data = d.model_copy(update={"train_path": written["train"], "eval_path": written.get("eval")})
    return cfg.model_copy(update={"data": data})
