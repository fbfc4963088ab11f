"""StudyReader: seeded order, filters, epoch crossing, and a cursor that resumes exactly."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from radrl_dist.data.images import ImageLoadError
from radrl_dist.data.reader import Cursor, StudyReader, load_study_images, read_studies
from radrl_dist.data.schema import STUDY_SCHEMA


def _ids(batch):
    return [(s.study_id, s.task) for s in batch]


def test_resume_gives_the_same_next_batches(phantom_ds):
    path = phantom_ds.paths["train"]
    a = StudyReader(path, batch_size=5, seed=7)
    for _ in range(3):
        a.next_batch()
    saved = json.loads(json.dumps(a.state_dict()))  # as a checkpoint would store it
    expected = [_ids(a.next_batch()) for _ in range(6)]  # crosses an epoch boundary
    b = StudyReader(path, batch_size=5, seed=7)
    b.load_state_dict(saved)
    assert [_ids(b.next_batch()) for _ in range(6)] == expected
    assert b.cursor == a.cursor


def test_every_row_once_per_epoch_and_seeded_order(phantom_ds):
    path = phantom_ds.paths["train"]
    r = StudyReader(path, batch_size=4, seed=1)
    n = len(r)
    seen = []
    while r.cursor.epoch == 0:
        seen += _ids(r.next_batch())
    assert len(set(seen[:n])) == n  # a permutation, nothing dropped or repeated within the epoch
    assert r.order(0).tolist() != r.order(1).tolist()
    assert StudyReader(path, 4, seed=1).order(0).tolist() == r.order(0).tolist()
    assert StudyReader(path, 4, seed=2).order(0).tolist() != r.order(0).tolist()
    assert StudyReader(path, 4, shuffle=False).order(3).tolist() == list(range(n))


def test_batches_stay_full_across_epochs(phantom_ds):
    r = StudyReader(phantom_ds.paths["train"], batch_size=7, seed=0, tasks=["report"])
    n = len(r)
    for _ in range(5):
        assert len(r.next_batch()) == 7
    assert r.cursor == Cursor((5 * 7) // n, (5 * 7) % n)


def test_filters(phantom_ds):
    rep = StudyReader(phantom_ds.paths["train"], 3, tasks=["report"])
    gr = StudyReader(phantom_ds.paths["train"], 3, tasks=["grounding"])
    assert len(rep) == phantom_ds.n_train and all(s.task == "grounding" for s in gr.next_batch())
    folder = StudyReader(phantom_ds.out, 3, split="test")
    assert all(s.split == "test" for s in folder.next_batch())
    with pytest.raises(ValueError, match="no rows"):
        StudyReader(phantom_ds.paths["train"], 3, split="test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        StudyReader(phantom_ds.out / "nope.parquet", 3)
    r = StudyReader(phantom_ds.paths["train"], 3)
    with pytest.raises(ValueError, match="outside"):
        r.load_state_dict({"epoch": 0, "position": 10_000})


def test_lazy_images_and_relative_paths(phantom_ds, tmp_path):
    s = read_studies(phantom_ds.paths["test"], tasks=["report"])[0]
    (img,) = load_study_images(s)
    assert img.mode == "RGB" and img.size == phantom_ds.size
    # A relocatable copy: relative image paths are taken against the Parquet file's folder.
    rows = pq.read_table(phantom_ds.paths["test"]).to_pylist()
    (tmp_path / "imgs").mkdir()
    for row in rows:
        src = row["image_paths"][0]
        shutil.copy(src, tmp_path / "imgs")
        row["image_paths"] = ["imgs/" + src.rsplit("/", 1)[1]]
    pq.write_table(pa.Table.from_pylist(rows, schema=STUDY_SCHEMA), tmp_path / "rel.parquet")
    moved = read_studies(tmp_path / "rel.parquet")
    assert moved[0].image_paths[0] == str(tmp_path / "imgs" / s.image_paths[0].rsplit("/", 1)[1])
    assert Image.open(moved[0].image_paths[0]).size == phantom_ds.size
    s.image_paths = [str(tmp_path / "missing.png")]
    with pytest.raises(ImageLoadError, match=s.study_id):
        load_study_images(s)


def test_a_list_of_paths_reads_every_file_in_order(phantom_ds):
    """boxmed_svr trains on MS-CXR + LATTE-CXR: data.train_path takes a list of files or folders."""
    from radrl_dist.config.schema import DataConfig

    train, test = phantom_ds.paths["train"], phantom_ds.paths["test"]
    both = read_studies([train, test])
    assert _ids(both) == _ids(read_studies(train)) + _ids(read_studies(test))
    assert len(StudyReader([train, test], batch_size=4, seed=0).next_batch()) == 4
    assert DataConfig(train_path=[str(train), str(test)]).train_path == [str(train), str(test)]
    with pytest.raises(FileNotFoundError):
        read_studies([])
