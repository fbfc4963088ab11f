"""Format rewards for `<think>..</think><report>..</report>` and `<think>..</think><answer>..</answer>`,
and the extractor every content reward uses to get the report or answer out of model output.

Partial-credit rule (MRG-R1 gives 1 for full compliance, "partial credit for minor violations",
else 0; it does not say which, so this is ours):
  1.00  both blocks well formed (exactly one open and one close tag each, open before close,
        non-empty content), think before the answer, nothing but whitespace outside them
  0.75  as above, but other text outside the two blocks
  0.50  answer block well formed; think block empty, repeated, unbalanced, or not before the answer
  0.25  answer block well formed; no think tag at all
  0.00  answer block missing, empty, repeated, unbalanced or closed before opened
`partial_credit=False` gives BoxMed-RL's binary reward (eq. 8): 1.0 only for the first row.

Every parser here is linear in the length of the output (str.count / str.find, one pass each): they
run on untrusted model output inside the reward router, where a regex that rescans the rest of the
text for every unclosed tag made one 175 KB output hold all scoring for half a minute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radrl_dist.labelers.base import as_text

FULL, STRAY_TEXT, BAD_THINK, NO_THINK, NONE = 1.0, 0.75, 0.5, 0.25, 0.0
MISSING_MODES = ("raw", "zero")


def _tags(tag: str) -> tuple[str, str]:
    return f"<{tag}>", f"</{tag}>"


def _block(text: str, tag: str) -> tuple[bool, int, int] | None:
    """(well_formed, start, end) of the `tag` block; None when the tag does not occur at all."""
    op, cl = _tags(tag)
    n_open, n_close = text.count(op), text.count(cl)
    if n_open == 0 and n_close == 0:
        return None
    if n_open != 1 or n_close != 1:
        return (False, -1, -1)
    s, e = text.index(op), text.index(cl)
    if e < s or not text[s + len(op) : e].strip():
        return (False, s, e + len(cl))
    return (True, s, e + len(cl))


def format_score(text: str, answer_tag: str = "report", think_tag: str = "think", partial_credit: bool = True) -> float:
    """Score of one output under the rule in the module docstring."""
    text = as_text(text)
    ans = _block(text, answer_tag)
    if ans is None or not ans[0]:
        return NONE
    inner = text[ans[1] : ans[2]]
    if any(t in inner for t in _tags(think_tag)):
        return NONE if not partial_credit else BAD_THINK  # think tags nested in the answer
    think = _block(text, think_tag)
    if think is None:
        score = NO_THINK
    elif not think[0] or think[2] > ans[1]:
        score = BAD_THINK
    else:
        outside = text[: think[1]] + text[think[2] : ans[1]] + text[ans[2] :]
        score = FULL if not outside.strip() else STRAY_TEXT
    if not partial_credit:
        return FULL if score == FULL else NONE
    return score


def format_reward(texts: Sequence[str], answer_tag: str = "report", partial_credit: bool = True) -> np.ndarray:
    """float [N] in [0, 1]."""
    return np.array([format_score(t, answer_tag, partial_credit=partial_credit) for t in texts], dtype=np.float64)


def extract_answer(text: str, tag: str = "report", on_missing: str = "raw", think_tag: str = "think") -> tuple[str, bool]:
    """(content, ok). ok when exactly one well-formed `tag` block exists; its stripped content is
    returned. Otherwise `on_missing="raw"` returns the text without reasoning and tags (the part
    after the last open answer tag if there is one; complete or unclosed think blocks removed), and
    `on_missing="zero"` returns "" so content rewards score 0. Never raises."""
    if on_missing not in MISSING_MODES:
        raise ValueError(f"on_missing must be one of {MISSING_MODES}, got {on_missing!r}")
    text = as_text(text)
    op, cl = _tags(tag)
    blk = _block(text, tag)
    if blk is not None and blk[0]:
        return text[blk[1] + len(op) : blk[2] - len(cl)].strip(), True
    if on_missing == "zero":
        return "", False
    top, tcl = _tags(think_tag)
    raw = _drop_closed_blocks(text, top, tcl)
    if op in raw:
        raw = raw[raw.rindex(op) + len(op) :]
    if top in raw:  # unclosed reasoning: keep only what precedes it
        raw = raw[: raw.index(top)]
    for t in (op, cl, top, tcl):
        raw = raw.replace(t, " ")
    return " ".join(raw.split()), False


def _drop_closed_blocks(text: str, op: str, cl: str) -> str:
    """`text` with every complete `op ... cl` block (shortest, left to right) replaced by one space:
    what re.sub(op + ".*?" + cl, " ", text, flags=re.S) returns, in one pass. Once an open tag has
    no close tag after it, no later one has either, so the scan stops there."""
    parts, pos = [], 0
    while True:
        s = text.find(op, pos)
        if s < 0:
            break
        e = text.find(cl, s + len(op))
        if e < 0:
            break
        parts += [text[pos:s], " "]
        pos = e + len(cl)
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)
