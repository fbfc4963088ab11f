"""Box codecs per model family: TEST_VECTORS' MS-CXR row, round trips, and hostile text."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import BOX_FORMAT_NAMES, get_codec

SRC = (1767, 2021)
MSCXR = Box(196, 1136, 196 + 532, 1136 + 315, label="Pleural Effusion")  # x, y, w, h row of MS-CXR
MODEL = (812, 924)


def test_mscxr_vector_on_the_1000_grid():
    t = get_codec("qwen2_vl").encode([MSCXR], SRC)
    assert t == "<|object_ref_start|>Pleural Effusion<|object_ref_end|><|box_start|>(111,562),(412,718)<|box_end|>"
    assert json.loads(get_codec("qwen3_vl").encode([MSCXR], SRC))[0]["bbox_2d"] == [111, 562, 412, 718]
    assert get_codec("radvlm").encode([MSCXR], SRC) == "[0.11, 0.56, 0.41, 0.72]"
    assert json.loads(get_codec("gemma3").encode([MSCXR], SRC))[0]["box_2d"] == [562, 111, 718, 412]  # y first


@pytest.mark.parametrize("family", BOX_FORMAT_NAMES)
def test_round_trip_within_quantisation(family):
    codec = get_codec(family)
    boxes = [MSCXR, Box(10, 20, 300, 400, label="Nodule")]
    text = codec.encode(boxes, SRC, MODEL)
    back, ok = codec.parse(text, SRC, MODEL)
    assert ok and len(back) == 2
    tol = {"qwen2_vl": 2.1, "qwen3_vl": 2.1, "qwen2_5_vl": 2.5, "radvlm": 10.2, "gemma3": 2.1}[family]  # pixels
    for a, b in zip(boxes, back):
        assert max(abs(x - y) for x, y in zip(a.as_tuple(), b.as_tuple())) <= tol
    if family != "radvlm":
        assert [b.label for b in back] == ["Pleural Effusion", "Nodule"]


def test_qwen2_5_needs_model_size_and_scales_by_it():
    codec = get_codec("qwen2_5_vl")
    with pytest.raises(ValueError, match="model_size"):
        codec.encode([MSCXR], SRC)
    out = json.loads(codec.encode([Box(0, 0, 1767, 2021)], SRC, MODEL))
    assert out[0]["bbox_2d"] == [0, 0, 812, 924]
    assert codec.needs_model_size and not any(get_codec(f).needs_model_size for f in BOX_FORMAT_NAMES if f != "qwen2_5_vl")


def test_lenient_and_failed_parses():
    q = get_codec("qwen3_vl")
    assert q.parse("[]", SRC) == ([], True)  # valid, empty
    boxes, ok = q.parse('```json\n[{"bbox_2d": [0, 0, 500, 500], "label": "x"}]\n```', SRC)
    assert ok and boxes[0].x2 == pytest.approx(883.5)
    boxes, ok = q.parse('Here: {"bbox_2d": [0, 0, 500, 500], "label": "x"} and {"bbox_2d": [1, 2]', SRC)
    assert not ok and len(boxes) == 1  # recovered, but counted as a format failure
    assert q.parse('[{"bbox_2d": [0, 0, 1e999, 5]}]', SRC) == ([], False)  # non-finite dropped
    assert q.parse('[{"bbox_2d": [true, 0, 5, 5]}]', SRC)[1] is False
    q2 = get_codec("qwen2_vl")
    assert q2.parse("no box here", SRC) == ([], False)
    boxes, ok = q2.parse("<|box_start|>(1,2),(3,4)<|box_end|><|box_start|>(oops)<|box_end|>", SRC)
    assert len(boxes) == 1 and not ok
    r = get_codec("radvlm")
    assert r.parse("[0.1, 0.2]", SRC) == ([], False)
    assert r.parse(None, SRC) == ([], False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown box format"):
        get_codec("llava")
    with pytest.raises(ValueError, match="source_size"):
        r.parse("[0.1, 0.1, 0.2, 0.2]", (0, 10))


def test_inverted_and_outside_boxes_are_returned_as_written():
    boxes, ok = get_codec("radvlm").parse("[0.9, 0.9, 0.1, 0.1], [-0.5, 1.2, 2.0, 3.0]", (100, 100))
    assert ok and boxes[0].as_tuple() == pytest.approx((90, 90, 10, 10))
    assert boxes[1].as_tuple() == pytest.approx((-50, 120, 200, 300))


PIECES = st.lists(st.sampled_from(["<|box_start|>", "<|box_end|>", "(", ")", ",", "[", "]", "{", "}", '"bbox_2d"', ":",
                                   "1", "0.5", "-3", "1e400", "nan", '"box_2d"', '"label"', '"x"', " ", "<|object_ref_start|>",
                                   "<|object_ref_end|>", "```json"]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), PIECES), st.sampled_from(BOX_FORMAT_NAMES))
def test_parse_never_raises(text, family):
    boxes, ok = get_codec(family).parse(text, SRC, MODEL)
    assert isinstance(ok, bool) and isinstance(boxes, list)
    for b in boxes:
        assert all(abs(v) < float("inf") for v in b.as_tuple())


# Fragments of hostile model output: unclosed markup of every family, and long whitespace runs (a
# Markdown-fence regex tried `\s*` at every position: 100 KB of spaces took 70 s before the fix).
HOSTILE_FRAGMENTS = ("<|box_start|>(", "<|box_start|>(1,2),(3,", "<|object_ref_start|>", "<|object_ref_end|>",
                     '{"bbox_2d": [', '{"bbox_2d": [1, 2, 3, 4', '"label": "\\', "[1, 2, 3,", "```json", " " * 25,
                     "\n\t ", "1", "[", "{", "(", ",", "e9", ".")
HOSTILE = st.lists(st.tuples(st.sampled_from(HOSTILE_FRAGMENTS), st.integers(1, 1000)), min_size=1, max_size=3).map(
    lambda parts: "".join(frag * k for frag, k in parts))


@settings(max_examples=40, deadline=timedelta(seconds=3))
@given(HOSTILE, HOSTILE, st.sampled_from(BOX_FORMAT_NAMES))
@example("x" + " " * 40_000, " " * 40_000 + "x", "qwen3_vl")
def test_hostile_text_around_an_answer_still_yields_its_box(before, after, family):
    """Tens of KB of hostile fragments on both sides of a real answer: no exception, the answer's box
    is found (within the format's quantisation), every box finite; the deadline catches a parser
    that goes quadratic (the timing bound itself is in bench/box_parsers.py)."""
    codec = get_codec(family)
    boxes, ok = codec.parse(before + codec.encode([MSCXR], SRC, MODEL) + after, SRC, MODEL)
    assert isinstance(ok, bool)
    assert all(abs(v) < float("inf") for b in boxes for v in b.as_tuple())
    tol = 10.2 if family == "radvlm" else 2.5  # pixels, as in the round trip
    assert any(max(abs(x - y) for x, y in zip(b.as_tuple(), MSCXR.as_tuple())) <= tol for b in boxes), boxes[:3]
