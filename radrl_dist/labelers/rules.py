"""Rule labeler in the spirit of the CheXpert labeler: mentions, then negation/uncertainty by scope.

One regex pass (see `phrases.py`) yields events in text order; a small state machine per sentence
assigns each mention a class:
- a pre cue ("no", "may represent") sets the clause state for the mentions after it, until the next
  cue, a terminator ("but", "which", ";") or the sentence end;
- a post cue ("is not seen", "cannot be excluded") rewrites the mentions since the last boundary;
- "versus"/"or" between hedged findings makes both conjuncts uncertain, the mention just before it
  and the ones after it in the clause ("or" not under a negation);
- attribute subjects ("heart size", "mediastinum") wait for a size qualifier ("normal", "enlarged",
  "borderline") before or after them in the sentence, else they say nothing.
Per report, positive beats uncertain beats negative; No Finding is positive when no observation
other than Support Devices is positive or uncertain (CheXpert's rule), and blank for empty text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radrl_dist.constants import BLANK, NEGATIVE, NO_FINDING_INDEX, NUM_OBSERVATIONS, POSITIVE, SUPPORT_DEVICES_INDEX, UNCERTAIN
from radrl_dist.labelers.base import Labeler, as_text
from radrl_dist.labelers.phrases import KEY_LEN, TOKENS, CompiledRules, compile_rules

# precedence rank per class: positive > uncertain > negative > blank
_RANK = np.zeros(4, dtype=np.int8)
_RANK[[BLANK, NEGATIVE, UNCERTAIN, POSITIVE]] = [0, 1, 2, 3]
_PATHOLOGIES = [i for i in range(NUM_OBSERVATIONS) if i not in (NO_FINDING_INDEX, SUPPORT_DEVICES_INDEX)]
_ATTR_REACH = 90  # characters an attribute subject waits for its qualifier
_PREQUAL_GAP = 3  # characters allowed between a qualifier and the subject it precedes
_WS = re.compile(r"\s+")
_MAX_CHARS = 20000  # longer model output is cut; a report is never this long


class RuleLabeler(Labeler):
    """Fast phrase-and-cue labeler; `phrase_dir` swaps in your own copies of the phrase files."""

    def __init__(self, phrase_dir: str | Path | None = None) -> None:
        self._phrase_dir = str(phrase_dir) if phrase_dir is not None else None
        self._rules: CompiledRules = compile_rules(self._phrase_dir)

    @property
    def name(self) -> str:
        return "rules"

    @property
    def version(self) -> str:
        return f"rules-{self._rules.version}"

    def __getstate__(self) -> dict:  # compiled patterns pickle, but recompiling is cheap and safer
        return {"phrase_dir": self._phrase_dir}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["phrase_dir"])

    def label(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), NUM_OBSERVATIONS), dtype=np.int8)
        for i, t in enumerate(texts):
            out[i] = self.label_one(as_text(t))
        return out

    def label_one(self, text: str) -> np.ndarray:
        """Labels of one report (int8 [14])."""
        row = np.zeros(NUM_OBSERVATIONS, dtype=np.int8)
        text = _WS.sub(" ", text[:_MAX_CHARS].lower()).strip()
        if not text:
            return row
        best = np.zeros(NUM_OBSERVATIONS, dtype=np.int8)  # best rank per observation
        for obs, cls in self._scan(text):
            r = _RANK[cls]
            if r > best[obs]:
                best[obs] = r
                row[obs] = cls
        if not any(row[i] in (POSITIVE, UNCERTAIN) for i in _PATHOLOGIES):
            row[NO_FINDING_INDEX] = POSITIVE
        return row

    def _scan(self, text: str) -> list[tuple[int, int]]:
        """(observation, class) for every resolved mention, in text order."""
        kinds, buckets = self._rules.kinds, self._rules.buckets
        found: list[list[int]] = []  # [obs, cls] per mention, mutable for post cues
        state = None  # None | NEGATIVE | UNCERTAIN: the active pre cue
        post: list[int] = []  # indices in `found` a post cue may still rewrite
        last: list[int] = []  # indices in `found` of the latest mention (one per observation it names)
        attrs: list[tuple[tuple[int, ...], int]] = []  # subjects waiting for a qualifier, with start
        prequal: tuple[str, int] | None = None  # (qualifier kind, end) that a following subject may use
        state_before_qual = None  # the state a leading "borderline" replaced
        end = 0
        for s in TOKENS.finditer(text):
            p = s.start()
            if p < end:
                continue
            pat = buckets.get(s.group()[:KEY_LEN])
            m = pat.match(text, p) if pat is not None else None
            if m is None:
                continue
            end = m.end()
            k = kinds[m.lastgroup]
            kind = k.kind
            if kind == "men":
                cls = POSITIVE if state is None else state
                last = list(range(len(found), len(found) + len(k.obs)))
                post.extend(last)
                found.extend([o, cls] for o in k.obs)
                prequal = None
            elif kind == "att":
                if prequal is not None and m.start() - prequal[1] <= _PREQUAL_GAP:
                    if prequal[0] == "qunc":  # "borderline heart size, widened mediastinum": the hedge
                        state = state_before_qual  # was the subject's, not the rest of the clause's
                    cls = _qualified(prequal[0], state)
                    found.extend([o, cls] for o in k.obs)
                    prequal = (prequal[0], m.end())  # "normal heart size and mediastinum"
                else:
                    attrs.append((k.obs, m.start()))
            elif kind in ("qpos", "qneg", "qunc"):
                live = [obs for obs, start in attrs if m.start() - start <= _ATTR_REACH]
                if live:
                    cls = _qualified(kind, state)
                    found.extend([o, cls] for obs in live for o in obs)
                    attrs = []
                    prequal = None
                else:
                    prequal = (kind, m.end())
                    if kind == "qunc":  # "borderline cardiomegaly"
                        state_before_qual, state = state, UNCERTAIN
            elif kind == "soft":
                post = []
                if prequal is not None:
                    prequal = (prequal[0], m.end())
            elif kind in ("neg", "unc"):
                state = NEGATIVE if kind == "neg" else UNCERTAIN
                post, prequal = [], None
            elif kind in ("pneg", "punc"):
                new = NEGATIVE if kind == "pneg" else UNCERTAIN
                for j in post:
                    if new == UNCERTAIN or found[j][1] == POSITIVE:
                        found[j][1] = new
                post, prequal = [], None
            elif kind == "bunc":  # hedges the conjunct just before it, not the whole clause:
                if state != NEGATIVE:  # "linear opacities, scarring or atelectasis" keeps the opacity
                    for j in last:
                        if j in post:
                            found[j][1] = UNCERTAIN
                    state = UNCERTAIN
                post, prequal = [], None
            elif kind == "term":
                state, post, prequal = None, [], None
            elif kind == "sent":
                state, post, attrs, prequal = None, [], [], None
            # "ign" and "pse" only consume their text
        return [(o, c) for o, c in found]


def _qualified(qual_kind: str, state: int | None) -> int:
    """Class of an attribute subject from its qualifier and the active cue."""
    if qual_kind == "qneg":
        return NEGATIVE
    if qual_kind == "qunc":
        return UNCERTAIN
    return POSITIVE if state is None else state
