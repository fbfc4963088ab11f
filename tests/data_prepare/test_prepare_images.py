"""Image handling: DICOM windowing to 8 bits, MONOCHROME1, VOI LUT, resize rule, unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from radrl_dist.data.prepare.images import ImageError, index_images, prepare_image, prepare_images, resized_size


def _ramp(h: int = 16, w: int = 256) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 16 % 4096).astype(np.uint16)


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_window_center_width_follows_dicom_linear_function(tmp_path, mk):
    arr = np.array([[0, 999, 1000, 1500, 2000, 4000]], dtype=np.uint16).repeat(4, axis=0)
    src = mk.dicom(tmp_path / "w.dcm", arr, wc=1000, ww=2001)
    info = prepare_image(str(src), str(tmp_path / "out" / "w.png"))
    assert info.method == "dicom:window" and info.path.endswith(".png")
    got = _png(info.path)[0]
    # y = ((x - (c - 0.5)) / (w - 1) + 0.5) clipped to [0, 1], times 255
    expect = [round(255 * min(max((x - 999.5) / 2000 + 0.5, 0), 1)) for x in (0, 999, 1000, 1500, 2000, 4000)]
    assert got.tolist() == expect
    assert got[0] == 0 and got[-1] == 255


def test_monochrome1_is_inverted_and_rescale_applies_before_window(tmp_path, mk):
    arr = _ramp()
    m2 = prepare_image(str(mk.dicom(tmp_path / "a.dcm", arr, wc=2048, ww=4096)), str(tmp_path / "o" / "a.png"))
    m1 = prepare_image(str(mk.dicom(tmp_path / "b.dcm", arr, "MONOCHROME1", wc=2048, ww=4096)), str(tmp_path / "o" / "b.png"))
    assert np.array_equal(_png(m1.path), 255 - _png(m2.path))
    # slope 2, intercept -1000: the window sees 2x - 1000, so pixel 1024 lands at the centre (1048 -> ~128)
    r = prepare_image(str(mk.dicom(tmp_path / "c.dcm", arr, wc=1048, ww=4096, slope=2, intercept=-1000)), str(tmp_path / "o" / "c.png"))
    out = _png(r.path)
    assert out[arr == 1024].tolist()[0] == round(255 * ((2 * 1024 - 1000 - 1047.5) / 4095 + 0.5))


def test_voi_lut_sequence_preferred_over_minmax(tmp_path, mk):
    arr = _ramp()
    lut = [int(4095 * (v / 4095) ** 0.5) for v in range(4096)]
    info = prepare_image(str(mk.dicom(tmp_path / "l.dcm", arr, lut=lut)), str(tmp_path / "o" / "l.png"))
    assert info.method == "dicom:voi_lut"
    out = _png(info.path)
    v = int(arr[5, 7])
    assert out[5, 7] == round(255 * lut[v] / 4095)
    plain = prepare_image(str(mk.dicom(tmp_path / "m.dcm", arr)), str(tmp_path / "o" / "m.png"))
    assert plain.method == "dicom:minmax" and _png(plain.path).min() == 0 and _png(plain.path).max() == 255


def test_resize_rule_records_exact_scale(tmp_path, mk):
    assert resized_size(1000, 500, 256) == (256, 128)
    assert resized_size(300, 200, 512) == (300, 200)  # never enlarged
    assert resized_size(2539, 3050, 1024) == (852, 1024)
    src = mk.image(tmp_path / "big.jpg", (1000, 500))
    info = prepare_image(str(src), str(tmp_path / "o" / "big.jpg"), max_side=256)
    assert (info.width, info.height, info.orig_width, info.orig_height) == (256, 128, 1000, 500)
    assert info.scale_x == 256 / 1000 and info.scale_y == 128 / 500 and info.method == "resize"
    assert Image.open(info.path).size == (256, 128) and Image.open(info.path).format == "JPEG"
    same = prepare_image(str(mk.image(tmp_path / "s.png", (64, 48))), None)
    assert same.path == same.source and same.scale_x == 1.0 and same.method == "none"


def test_unreadable_and_truncated_images(tmp_path, mk):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="unreadable image"):
        prepare_image(str(bad), None)
    with pytest.raises(ImageError, match="not found"):
        prepare_image(str(tmp_path / "nope.png"), None)
    good = mk.image(tmp_path / "t.png", (128, 128))
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert prepare_image(str(trunc), None).width == 128  # header is intact
    with pytest.raises(ImageError):
        prepare_image(str(trunc), None, verify=True)
    baddcm = tmp_path / "x.dcm"
    baddcm.write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.raises(ImageError):
        prepare_image(str(baddcm), str(tmp_path / "o" / "x.png"))


def test_parallel_equals_sequential_and_errors_are_values(tmp_path, mk):
    jobs = [(str(mk.image(tmp_path / f"i{i}.png", (40 + i, 30))), None) for i in range(4)]
    (tmp_path / "broken.png").write_bytes(b"nope")
    jobs.append((str(tmp_path / "broken.png"), None))
    seq = prepare_images(jobs, None, False, workers=1)
    par = prepare_images(jobs, None, False, workers=2)
    assert seq == par
    assert isinstance(seq[str(tmp_path / "broken.png")], str)
    assert seq[jobs[2][0]].width == 42


def test_index_marks_ambiguous_names(tmp_path, mk):
    mk.image(tmp_path / "a" / "x.png")
    mk.image(tmp_path / "b" / "x.png")
    mk.image(tmp_path / "b" / "y.jpg")
    (tmp_path / "b" / "notes.txt").write_text("-")
    idx = index_images(tmp_path)
    assert idx["x"] is None and idx["y"].endswith("y.jpg") and "notes" not in idx
