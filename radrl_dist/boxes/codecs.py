"""Box codecs per model family: write boxes into target text and parse them back from model output.

Boxes are `Box` objects in source-image pixels (x1, y1, x2, y2; DESIGN 2). Sizes are (width, height).
- qwen2_vl:   `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`,
              integers on a 0..1000 grid of the image.
- qwen2_5_vl: JSON `[{"bbox_2d": [x1, y1, x2, y2], "label": "..."}]` in absolute pixels of the
              resized model input; pass `model_size` (see `model_size_from_grid`).
- qwen3_vl:   the same JSON with integers on a 0..1000 grid.
- radvlm:     plain text `[x1, y1, x2, y2]` normalised to 0..1 with 2 decimals, boxes joined by ", ".
`parse(text, source_size, model_size=None) -> (boxes, ok)` never raises: text without a box, or
with box markup it cannot read, gives ok=False (a counted format failure). JSON that is not valid as
a whole but contains readable `bbox_2d` objects yields those boxes with ok=False. Non-finite numbers
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
from collections.abc import Sequence

from radrl_dist.data.schema import Box

Size = tuple[float, float]
FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "radvlm")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QWEN2 = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.{0,300}?)<\|object_ref_end\|>\s*)?<\|box_start\|>\s*\(\s*(?P<a>" + _NUM
    + r")\s*,\s*(?P<b>" + _NUM + r")\s*\)\s*,\s*\(\s*(?P<c>" + _NUM + r")\s*,\s*(?P<d>" + _NUM
    + r")\s*\)\s*<\|box_end\|>", re.S)
_BRACKET = re.compile(r"\[\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*\]")
_BBOX_OBJ = re.compile(r'\{[^{}]{0,500}?"bbox_2d"\s*:\s*\[([^\]{}]{0,200})\][^{}]{0,500}\}', re.S)
_LABEL = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')
_MAX_TEXT = 100_000  # characters parsed; model output past this is ignored


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


def model_size_from_grid(image_grid_thw: Sequence[int], patch_size: int = 14) -> Size:
    """(width, height) of the resized Qwen2/2.5-VL input from the processor's (t, h, w) patch grid."""
    _, gh, gw = (int(x) for x in image_grid_thw)
    return float(gw * patch_size), float(gh * patch_size)


class BoxCodec:
    """One model family's box text format. Scale: coordinate units per source pixel (per axis)."""

    def __init__(self, family: str) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown box codec {family!r}; known: {FAMILIES}")
        self.family = family

    def _frame(self, source_size: Sequence[float], model_size: Sequence[float] | None) -> Size:
        """Size of the frame the text's numbers live in (what source width/height map to)."""
        if self.family == "qwen2_5_vl":
            if model_size is None:
                raise ValueError("qwen2_5_vl boxes are in model-input pixels: pass model_size=(width, height)")
            return _check_size(model_size, "model_size")
        return (1000.0, 1000.0) if self.family in ("qwen2_vl", "qwen3_vl") else (1.0, 1.0)

    def encode(self, boxes: Sequence[Box], source_size: Sequence[float], model_size: Sequence[float] | None = None) -> str:
        """Target text for `boxes` (source pixels)."""
        sw, sh = _check_size(source_size, "source_size")
        fw, fh = self._frame(source_size, model_size)
        out = []
        for b in boxes:
            xs = (b.x1 * fw / sw, b.y1 * fh / sh, b.x2 * fw / sw, b.y2 * fh / sh)
            if self.family == "radvlm":
                out.append("[" + ", ".join(f"{min(max(v, 0.0), 1.0):.2f}" for v in xs) + "]")
                continue
            lim = (fw, fh, fw, fh)
            v = [int(round(min(max(x, 0.0), m))) for x, m in zip(xs, lim)]
            label = b.label or b.phrase or ""
            if self.family == "qwen2_vl":
                ref = f"<|object_ref_start|>{label}<|object_ref_end|>" if label else ""
                out.append(f"{ref}<|box_start|>({v[0]},{v[1]}),({v[2]},{v[3]})<|box_end|>")
            else:
                out.append({"bbox_2d": v, "label": label})
        if self.family in ("qwen2_5_vl", "qwen3_vl"):
            return json.dumps(out)
        return ", ".join(out) if self.family == "radvlm" else "".join(out)

    def parse(self, text: str, source_size: Sequence[float], model_size: Sequence[float] | None = None) -> tuple[list[Box], bool]:
        """(boxes in source pixels, ok). Never raises on `text`; a bad size argument is a caller bug."""
        sw, sh = _check_size(source_size, "source_size")
        fw, fh = self._frame(source_size, model_size)
        if not isinstance(text, str):
            return [], False
        try:
            raw, ok = self._parse_raw(text[:_MAX_TEXT])
        except Exception:  # noqa: BLE001 - model output must never crash a reward
            return [], False
        boxes = [Box(v[0] * sw / fw, v[1] * sh / fh, v[2] * sw / fw, v[3] * sh / fh, label=lab)
                 for v, lab in raw if _finite(v)]
        return boxes, ok and len(boxes) == len(raw)

    def _parse_raw(self, text: str) -> tuple[list[tuple[list[float], str | None]], bool]:
        if self.family == "qwen2_vl":
            found = [([float(m[k]) for k in "abcd"], m["label"] or None) for m in _QWEN2.finditer(text)]
            return found, bool(found) and text.count("<|box_start|>") == len(found)
        if self.family == "radvlm":
            found = [([float(x) for x in m.groups()], None) for m in _BRACKET.finditer(text)]
            return found, bool(found)
        return _parse_json_boxes(text)


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


def _parse_json_boxes(text: str) -> tuple[list[tuple[list[float], str | None]], bool]:
    """Strict JSON first (a list of objects, or one object, each with a 4-number bbox_2d); then a
    lenient scan for bbox_2d objects anywhere in the text (ok=False)."""
    body = _strip_fence(text)
    try:
        data = json.loads(body)
        items = data if isinstance(data, list) else [data]
        out = []
        for it in items:
            bb = it.get("bbox_2d") if isinstance(it, dict) else None
            if not (isinstance(bb, list) and len(bb) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bb)):
                raise ValueError("not a bbox_2d object")
            lab = it.get("label")
            out.append(([float(v) for v in bb], lab if isinstance(lab, str) else None))
        return out, True
    except (ValueError, TypeError, AttributeError, RecursionError):
        pass
    out = []
    for m in _BBOX_OBJ.finditer(text):
        nums = re.fullmatch(r"\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*", m.group(1))
        if nums:
            lab = _LABEL.search(m.group(0))
            out.append(([float(x) for x in nums.groups()], lab.group(1) if lab else None))
    return out, False


def get_codec(family: str) -> BoxCodec:
    return BoxCodec(family)
