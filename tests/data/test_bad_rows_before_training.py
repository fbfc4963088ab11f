"""Bad rows a user meets (a decompression-bomb PNG, empty or missing report, NaN box, box outside the
image, label id 7) are named by row and study id, by `data.validate` and by a training start, and a
training start stops before Ray is started. `data.max_bad_rows` lets a run skip them instead."""

from __future__ import annotations

import struct
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from radrl_dist.config import load_config
from radrl_dist.data.images import ImageOpenError, image_size
from radrl_dist.data.schema import STUDY_SCHEMA
from radrl_dist.data.validate import DataValidationError, main, validate
from radrl_dist.runtime.data_check import check_run_data

GOOD = dict(task="report", prompt_vars=[], reference_report="No pleural effusion.", reference_labels=[0] * 14,
            boxes=[], image_size={"width": 128, "height": 160}, split="train", dataset="t")
BOX = {"label": "Pleural Effusion", "phrase": "left pleural effusion"}

# row index in the file -> (study id, error kind)
EXPECTED = {1: ("bomb", "image_too_large"), 2: ("empty-report", "empty_report"), 3: ("missing-report", "empty_report"),
            4: ("nan-box", "bad_box"), 5: ("outside-box", "bad_box"), 6: ("label-7", "bad_labels")}


def write_bomb_png(path, side: int = 20000) -> None:
    """A valid 1-bit grayscale PNG of side x side pixels: 400 MP to PIL, about 50 KB on disk."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed pixels
    comp = zlib.compressobj(9)
    idat = comp.compress(row * side) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bad_rows(phantom_ds, tmp_path_factory):
    """(bad file, good file): the bad one has the rows of EXPECTED between two good ones."""
    img = pq.read_table(phantom_ds.paths["train"]).column("image_paths").to_pylist()[0][0]
    tmp = tmp_path_factory.mktemp("bad_rows")
    bomb = tmp / "bomb.png"
    write_bomb_png(bomb)
    rows = [
        dict(GOOD, study_id="ok-0", image_paths=[img]),
        dict(GOOD, study_id="bomb", image_paths=[str(bomb)], image_size={"width": 0, "height": 0}),
        dict(GOOD, study_id="empty-report", image_paths=[img], reference_report=""),
        dict(GOOD, study_id="missing-report", image_paths=[img], reference_report=None),
        dict(GOOD, study_id="nan-box", image_paths=[img], task="grounding",
             boxes=[dict(BOX, x1=float("nan"), y1=10, x2=50, y2=60)]),
        dict(GOOD, study_id="outside-box", image_paths=[img], task="grounding",
             boxes=[dict(BOX, x1=100, y1=120, x2=400, y2=150)]),
        dict(GOOD, study_id="label-7", image_paths=[img], reference_labels=[7] + [0] * 13),
        dict(GOOD, study_id="ok-1", image_paths=[img], task="grounding", boxes=[dict(BOX, x1=10, y1=20, x2=60, y2=90)]),
    ]
    bad, good = tmp / "bad.parquet", tmp / "good.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=STUDY_SCHEMA), bad)
    pq.write_table(pa.Table.from_pylist([rows[0], rows[-1]], schema=STUDY_SCHEMA), good)
    return bad, good


def expected_lines(path) -> list[str]:
    return [f"{path} row {row} (study {sid}, " for row, (sid, _kind) in EXPECTED.items()]


def test_bomb_and_pixel_limit_are_image_errors(bad_rows, phantom_ds):
    bomb = bad_rows[0].parent / "bomb.png"
    with pytest.raises(ImageOpenError, match="too large") as ei:
        image_size(bomb)
    assert ei.value.kind == "image_too_large"
    img = pq.read_table(phantom_ds.paths["train"]).column("image_paths").to_pylist()[0][0]
    assert image_size(img) == (128, 160)
    with pytest.raises(ImageOpenError, match=r"128x160 = 20,480 pixels, over the limit of 20,000"):
        image_size(img, max_pixels=20_000)
    # what a rollout actor does with a study's image: a per-study error, never an actor crash
    from radrl_dist.data.images import ImageLoadError, load_image

    with pytest.raises(ImageLoadError, match="too large"):
        load_image(bomb)
    assert load_image(img).mode == "RGB"


def test_data_validate_cli_names_every_bad_row(bad_rows, capsys):
    bad, _ = bad_rows
    assert main([str(bad)]) == 3
    out = capsys.readouterr().out
    for line, (row, (sid, kind)) in zip(expected_lines(bad), EXPECTED.items()):
        assert any(ln.startswith(line) and f": {kind}: " in ln for ln in out.splitlines()), (sid, out)
    assert "rows: 8, good: 2, bad rows: 6" in out


def _cfg(tmp_path, train, eval_=None, *extra):
    sets = [f"data.train_path={train}", f"logging.output_dir={tmp_path / 'run'}", f"sft.output_dir={tmp_path / 'sft'}",
            "data.task_mix={report: 1, grounding: 1}", "train.steps=1"]
    if eval_:
        sets.append(f"data.eval_path={eval_}")
    return load_config(None, sets + list(extra))


@pytest.fixture
def no_ray(monkeypatch):
    """A tripwire, not a stand-in: the check must finish before anything starts Ray."""
    import ray

    def tripped(*a, **k):
        raise AssertionError("ray.init was called before the training data was validated")

    monkeypatch.setattr(ray, "init", tripped)


@pytest.mark.parametrize("entry", ["train", "sft"])
def test_training_start_names_bad_rows_before_ray(bad_rows, tmp_path, no_ray, entry):
    bad, good = bad_rows
    from radrl_dist.sft.trainer import run_sft
    from radrl_dist.train.driver import run

    start = run if entry == "train" else run_sft
    # bad rows in the training file, then in the held-out file
    for cfg, path in ((_cfg(tmp_path, bad), bad), (_cfg(tmp_path, good, bad), bad)):
        with pytest.raises(DataValidationError) as ei:
            start(cfg)
        msg = str(ei.value)
        assert "data.max_bad_rows is 0" in msg and "6 bad row(s)" in msg
        cli_lines = [str(e) for e in validate(path, drop_bad=True).errors]
        assert msg.splitlines()[2:] == cli_lines  # the same messages as data.validate, one per line
        for line in expected_lines(path):
            assert line in msg


@pytest.mark.parametrize("entry", ["train", "sft"])
def test_cli_exits_3_with_the_listing_and_no_traceback(bad_rows, tmp_path, no_ray, entry, capsys):
    from radrl_dist.sft.__main__ import main as sft_main
    from radrl_dist.train.__main__ import main as train_main

    bad, _ = bad_rows
    args = ["--set", f"data.train_path={bad}", "--set", f"logging.output_dir={tmp_path / 'run'}",
            "--set", f"sft.output_dir={tmp_path / 'sft'}", "--set", "data.task_mix={report: 1, grounding: 1}"]
    assert (train_main if entry == "train" else sft_main)(args) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "6 bad row(s)" in err and "Traceback" not in err


def test_max_bad_rows_skips_them_with_a_warning(bad_rows, tmp_path, capsys):
    bad, good = bad_rows
    with pytest.raises(DataValidationError, match="data.max_bad_rows is 5"):
        check_run_data(_cfg(tmp_path, bad, good, "data.max_bad_rows=5"))
    cfg = check_run_data(_cfg(tmp_path, bad, good, "data.max_bad_rows=6"))
    err = capsys.readouterr().err
    assert "skipping 6 bad row(s)" in err and all(line in err for line in expected_lines(bad))
    train = pq.read_table(cfg.data.train_path).column("study_id").to_pylist()
    assert train == ["ok-0", "ok-1"] and cfg.data.train_path.startswith(str(tmp_path / "run" / "checked_data"))
    assert pq.read_table(cfg.data.eval_path).num_rows == 2
    assert check_run_data(cfg) == cfg  # the checked copy is clean: nothing more to skip


def test_phantom_data_is_checked_and_clean(tmp_path):
    cfg = load_config(None, [f"data.phantom.cache_dir={tmp_path}", "data.phantom.n_train=4", "data.phantom.n_eval=2",
                             f"logging.output_dir={tmp_path / 'run'}"])
    assert check_run_data(cfg) == cfg
