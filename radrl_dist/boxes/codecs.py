"""Box text formats: write boxes into target text and parse them back from model output.

Boxes are `Box` objects in source-image pixels (x1, y1, x2, y2; DESIGN 2). Sizes are (width, height).
A format is a `BoxTextFormat` record (its frame, how one box is written, how text is read back, the
prompt's wording of it); `BoxCodec` does the scaling between source pixels and the format's frame.
The formats here are the ones several model families share:
- qwen2_vl:   `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`,
              integers on a 0..1000 grid of the image.
- qwen2_5_vl: JSON `[{"bbox_2d": [x1, y1, x2, y2], "label": "..."}]` in absolute pixels of the
              resized model input; pass `model_size` (the family spec's `model_input_size`).
- qwen3_vl:   the same JSON with integers on a 0..1000 grid.
- radvlm:     plain text `[x1, y1, x2, y2]` normalised to 0..1 with 2 decimals, boxes joined by ", ".
A model family with a format of its own defines it in its family file (`json_box_format` covers the
JSON kinds; Gemma 3's y-first `box_2d` is one); the family registry (models/families) is where names
resolve, so a new family stays one file.
`parse(text, source_size, model_size=None) -> (boxes, ok)` never raises: text without a box, or
with box markup it cannot read, gives ok=False (a counted format failure). JSON that is not valid as
a whole but contains readable box objects yields those boxes with ok=False. Non-finite numbers
drop their box. Boxes are returned as written (inverted or outside the image included); clipping
and the zero area of inverted boxes are the reward's business.

Parsing is linear in the length of the text (the reward router parses every candidate, so one
hostile output must not stall the others): every regex starts at a literal and its repeats are
bounded or cannot overlap; no pattern may try a whitespace run at every position of the text (the
old Markdown-fence regex did: 100 KB of spaces took over 70 s). bench/box_parsers.py measures it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from radrl_dist.boxes.box import Box

Size = tuple[float, float]
RawBoxes = list[tuple[list[float], "str | None"]]  # (x1, y1, x2, y2 in frame units, label) as written
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QWEN2 = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.{0,300}?)<\|object_ref_end\|>\s*)?<\|box_start\|>\s*\(\s*(?P<a>" + _NUM
    + r")\s*,\s*(?P<b>" + _NUM + r")\s*\)\s*,\s*\(\s*(?P<c>" + _NUM + r")\s*,\s*(?P<d>" + _NUM
    + r")\s*\)\s*<\|box_end\|>", re.S)
_BRACKET = re.compile(r"\[\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*\]")
_LABEL = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')
_FOUR = re.compile(r"\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*")
_MAX_TEXT = 100_000  # characters parsed; model output past this is ignored


@dataclass(frozen=True)
class BoxTextFormat:
    """One way of writing boxes as text.

    `frame`: (width, height) of the grid the numbers live on, or None for pixels of the resized model
    input (the caller passes `model_size`). `write(values, label)`: one box's piece from its x1, y1,
    x2, y2 in frame units (already clamped to the frame); `join(pieces)`: the answer text. `read(text)`:
    every box as written (frame units, x first) and whether the whole text was well formed; linear
    time, never raises on model output. `hint`: the sentence a grounding prompt uses to ask for it."""

    name: str
    frame: Size | None
    hint: str
    write: Callable[[tuple[float, float, float, float], str], Any]
    join: Callable[[list[Any]], str]
    read: Callable[[str], tuple[RawBoxes, bool]]


def _ints(values: Sequence[float]) -> list[int]:
    return [int(round(v)) for v in values]


def _read_qwen2(text: str) -> tuple[RawBoxes, bool]:
    found = [([float(m[k]) for k in "abcd"], m["label"] or None) for m in _QWEN2.finditer(text)]
    return found, bool(found) and text.count("<|box_start|>") == len(found)


def _write_qwen2(v: Sequence[float], label: str) -> str:
    x1, y1, x2, y2 = _ints(v)
    ref = f"<|object_ref_start|>{label}<|object_ref_end|>" if label else ""
    return f"{ref}<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def _read_brackets(text: str) -> tuple[RawBoxes, bool]:
    found = [([float(x) for x in m.groups()], None) for m in _BRACKET.finditer(text)]
    return found, bool(found)


def _strip_fence(text: str) -> str:
    """The text without surrounding whitespace and a Markdown ```json ... ``` fence (linear time)."""
    body = text.strip()
    if body.startswith("```"):
        body = body[3:]
        if body.startswith("json"):
            body = body[4:]
    if body.endswith("```"):
        body = body[:-3]
    return body.strip()


def _parse_json_boxes(text: str, key: str, lenient: re.Pattern) -> tuple[RawBoxes, bool]:
    """Strict JSON first (a list of objects, or one object, each with a 4-number `key`); then a
    lenient scan (`lenient`) for such objects anywhere in the text (ok=False)."""
    body = _strip_fence(text)
    try:
        data = json.loads(body)
        items = data if isinstance(data, list) else [data]
        out = []
        for it in items:
            bb = it.get(key) if isinstance(it, dict) else None
            if not (isinstance(bb, list) and len(bb) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bb)):
                raise ValueError(f"not a {key} object")
            lab = it.get("label")
            out.append(([float(v) for v in bb], lab if isinstance(lab, str) else None))
        return out, True
    except (ValueError, TypeError, AttributeError, RecursionError):
        pass
    out = []
    for m in lenient.finditer(text):
        nums = _FOUR.fullmatch(m.group(1))
        if nums:
            lab = _LABEL.search(m.group(0))
            out.append(([float(x) for x in nums.groups()], lab.group(1) if lab else None))
    return out, False


def json_box_format(name: str, key: str, frame: Size | None, hint: str, y_first: bool = False) -> BoxTextFormat:
    """A JSON list of `{key: [4 numbers], "label": ...}` objects (x1, y1, x2, y2; or y1, x1, y2, x2
    with `y_first`), integers in `frame` units."""
    lenient = re.compile(r'\{[^{}]{0,500}?"' + re.escape(key) + r'"\s*:\s*\[([^\]{}]{0,200})\][^{}]{0,500}\}', re.S)
    order = (1, 0, 3, 2) if y_first else (0, 1, 2, 3)  # the same swap maps both ways

    def write(v: Sequence[float], label: str) -> dict:
        iv = _ints(v)
        return {key: [iv[k] for k in order], "label": label}

    def read(text: str) -> tuple[RawBoxes, bool]:
        found, ok = _parse_json_boxes(text, key, lenient)
        return [([v[k] for k in order], lab) for v, lab in found], ok

    return BoxTextFormat(name, frame, hint, write, json.dumps, read)


QWEN2_VL = BoxTextFormat(
    "qwen2_vl", (1000.0, 1000.0),
    "Write each box as <|box_start|>(x1,y1),(x2,y2)<|box_end|> with integer coordinates on a 0..1000 grid "
    "of the image, e.g. <|box_start|>(120,340),(560,780)<|box_end|>.",
    _write_qwen2, "".join, _read_qwen2)
QWEN2_5_VL = json_box_format(
    "qwen2_5_vl", "bbox_2d", None,
    'Write the boxes as JSON, e.g. [{"bbox_2d": [84, 230, 392, 545], "label": "opacity"}], with x1, y1, '
    "x2, y2 in pixels of the resized input image as you see it.")
QWEN3_VL = json_box_format(
    "qwen3_vl", "bbox_2d", (1000.0, 1000.0),
    'Write the boxes as JSON, e.g. [{"bbox_2d": [120, 340, 560, 780], "label": "opacity"}], with x1, y1, '
    "x2, y2 as integers on a 0..1000 grid of the image.")
RADVLM = BoxTextFormat(
    "radvlm", (1.0, 1.0),
    "Write each box as [x1, y1, x2, y2] with coordinates normalised to 0..1 of the image width and height, "
    "2 decimals, e.g. [0.12, 0.34, 0.56, 0.78].",
    lambda v, label: "[" + ", ".join(f"{x:.2f}" for x in v) + "]", ", ".join, _read_brackets)
SHARED_BOX_FORMATS: dict[str, BoxTextFormat] = {f.name: f for f in (QWEN2_VL, QWEN2_5_VL, QWEN3_VL, RADVLM)}


def _check_size(size: Sequence[float] | None, what: str) -> Size:
    try:
        w, h = float(size[0]), float(size[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{what} must be (width, height), got {size!r}") from exc
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"{what} must be positive and finite, got {size!r}")
    return w, h


def _finite(vals: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in vals)


class BoxCodec:
    """Boxes in source pixels <-> text in `fmt`. Resolve a format by name with
    `radrl_dist.models.families.get_codec` (it knows the family-defined formats too)."""

    def __init__(self, fmt: BoxTextFormat) -> None:
        self.fmt = fmt
        self.name = fmt.name

    @property
    def needs_model_size(self) -> bool:
        """True when the numbers are pixels of the resized model input (encode/parse need `model_size`)."""
        return self.fmt.frame is None

    def _frame(self, model_size: Sequence[float] | None) -> Size:
        """Size of the frame the text's numbers live in (what source width/height map to)."""
        if self.fmt.frame is None:
            if model_size is None:
                raise ValueError(f"{self.name} boxes are in model-input pixels: pass model_size=(width, height)")
            return _check_size(model_size, "model_size")
        return self.fmt.frame

    def encode(self, boxes: Sequence[Box], source_size: Sequence[float], model_size: Sequence[float] | None = None) -> str:
        """Target text for `boxes` (source pixels)."""
        sw, sh = _check_size(source_size, "source_size")
        fw, fh = self._frame(model_size)
        pieces = []
        for b in boxes:
            xs = (b.x1 * fw / sw, b.y1 * fh / sh, b.x2 * fw / sw, b.y2 * fh / sh)
            clamped = tuple(min(max(x, 0.0), m) for x, m in zip(xs, (fw, fh, fw, fh)))
            pieces.append(self.fmt.write(clamped, b.label or b.phrase or ""))
        return self.fmt.join(pieces)

    def parse(self, text: str, source_size: Sequence[float], model_size: Sequence[float] | None = None) -> tuple[list[Box], bool]:
        """(boxes in source pixels, ok). Never raises on `text`; a bad size argument is a caller bug."""
        sw, sh = _check_size(source_size, "source_size")
        fw, fh = self._frame(model_size)
        if not isinstance(text, str):
            return [], False
        try:
            raw, ok = self.fmt.read(text[:_MAX_TEXT])
        except Exception:  # noqa: BLE001 - model output must never crash a reward
            return [], False
        boxes = [Box(v[0] * sw / fw, v[1] * sh / fh, v[2] * sw / fw, v[3] * sh / fh, label=lab)
                 for v, lab in raw if _finite(v)]
        return boxes, ok and len(boxes) == len(raw)
