"""A pure-Python copy of the tokenisation pycocoevalcap applies before every caption metric.

pycocoevalcap runs Stanford CoreNLP 3.4.1's PTBTokenizer (`-preserveLines -lowerCase`, a Java
subprocess) and then drops the punctuation tokens in `PUNCTUATIONS`. The scores the field publishes
depend on that exact token stream, so this module emulates the lexer rules that matter for report
text (flex longest-match, first rule wins a tie; trailing-context rules count their context in the
match length) without Java. `tests/metrics/test_ptb_tokenize.py` checks equality against the real
Java tokenizer on every IU X-Ray report section when Java is present.
"""

from __future__ import annotations

import re
from functools import lru_cache

# pycocoevalcap/tokenizer/ptbtokenizer.py, verbatim. Note the case: after -lowerCase, brackets come
# out as "-lrb-" etc., which are NOT in this list, so pycocoevalcap keeps them; we do the same.
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

_L = r"[^\W\d_]"  # a letter
_LD = r"[^\W_]"  # a letter or digit
_APOS = r"['\u0092\u2019]"
_APOSETC = r"['\u0092\u2019`\u0091\u2018\u201B]"
_NUM = r"(?:\d*(?:[.:,\u00AD]\d+)+|\d+)"
_WORD = rf"{_L}{_LD}*(?:[.!?]{_L}{_LD}*)*"
_THING = rf"(?:[dDoOlL]{_APOSETC}{_LD})?{_LD}+(?:-(?:[dDoOlL]{_APOSETC}{_LD})?{_LD}+)*"
_THING3 = rf"{_LD}+(?:-{_L}+){{0,2}}(?:\\?/{_LD}+(?:-{_L}+){{0,2}}){{1,2}}"
_REDAUX = rf"{_APOS}(?:[msdMSD]|re|ve|ll)"
_SWORD = r"[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*"
_SREDAUX = rf"n{_APOSETC}t"
_ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+)"
# Words CoreNLP 3.4.1 keeps a final period on (ABMONTH, ABDAYS, ABSTATE, ABCOMP, ABTITLE, ... in
# PTBLexer.flex), measured by probing the jar with each word in lower, UPPER and Capitalised case.
# Any case of these matches:
_ABBREV_ANY_CASE = frozenset(
    """adm al ala apr ariz assn atty attys aug ave bancorp bhd bldg blvd brig bros calif capt cf cmdr co
    col colo comdr conn corp cos cpl ct dak dec dept det dr drs esq est etc ext feb fla fri ft ga gen gov
    govs hon inc ind intl jan jos jr jul jun kan kans ky lieut lt ltd maj mar md messrs mich minn mlle
    mme mo mon mont mr mrs ms mt natl neb nev nov oct okla penn pfc ph plc pres prof profs pvt rd rep
    reps rev rt sen sens sep sept seq sgt spc sq sr st ste supt supts sys tel tenn thu thurs tue tues univ
    va vs vt wed wis wisc wm wyo""".split()
)
_ABBREV_CAPITAL_ONLY = frozenset("ark az del ill la mass miss ore pa tex wash".split())  # Pa., PA., not pa.
_ABBREV_NOT_UPPER = frozenset("mfg pte pty ptys".split())  # Pty., pty., not PTY.
# Kept only before a number ("Fig. 2", "No.5").
_ABBREV_BEFORE_NUMBER = frozenset("ca fig figs prop no nos art pp op".split())
_ABBREV_RX = re.compile(r"(?P<t>([A-Za-z]+)\.)(?P<after>[ \t\u00A0]*\d)?")


def _abbrev_len(line: str, pos: int) -> tuple[int, str]:
    """Length matched by the lexer's abbreviation rules at pos (0 if none), and the token."""
    m = _ABBREV_RX.match(line, pos)
    if m is None:
        return 0, ""
    word = m.group(2)
    low = word.lower()
    keep = (
        len(word) == 1
        or low in _ABBREV_ANY_CASE
        or (low in _ABBREV_CAPITAL_ONLY and word[0].isupper())
        or (low in _ABBREV_NOT_UPPER and not word.isupper())
        or (low in _ABBREV_BEFORE_NUMBER and m.group("after") is not None)
    )
    return (len(m.group("t")), m.group("t")) if keep else (0, "")


_SPACE = r"[ \t\u00A0\u2000-\u200A\u3000]"

# (pattern, replacement or None). The token is group "t"; anything after it is trailing context.
_RULES: list[tuple[str, str | None]] = [
    (r"(?P<t><\/?[A-Za-z!?][^>\r\n]*>)", None),  # SGML
    (r"(?P<t>[cC]an)not", None),
    (r"(?P<t>[gG]on|[wW]an)na", None),
    (r"(?P<t>[gG]ot)ta", None),
    (r"(?P<t>[lL]em|[gG]im)me", None),
    (rf"(?P<t>{_SWORD}){_SREDAUX}", None),
    (rf"(?P<t>{_WORD})(?:{_REDAUX})", None),
    (rf"(?P<t>{_WORD})", None),
    (rf"(?P<t>{_THING})", None),
    (rf"(?P<t>{_THING}\.)[,;:]", None),  # "CXR.;" and "2.," keep their period
    (r"(?P<t>''|``)", None),
    (rf"(?P<t>{_THING3})", None),
    (rf"(?P<t>{_ACRO}\.?)", None),
    (r"(?P<t>(?:\d{1,4}-)?\d{1,4}\\?/\d{1,4})", None),
    (r"(?P<t>[A-Z]*\$|#)", None),
    (rf"(?P<t>[\-+]?{_NUM})", None),
    (rf"(?P<t>{_REDAUX})(?=[^A-Za-z]|$)", None),
    (rf"(?P<t>{_SREDAUX})", None),
    (r"(?P<t>\.\.\.+)", "..."),
    (r"(?P<t>[?!]+)", None),
    (r"(?P<t>--+)", "--"),
    (r"(?P<t>\()", "-LRB-"),
    (r"(?P<t>\))", "-RRB-"),
    (r"(?P<t>\[)", "-LSB-"),
    (r"(?P<t>\])", "-RSB-"),
    (r"(?P<t>\{)", "-LCB-"),
    (r"(?P<t>\})", "-RCB-"),
    (r"(?P<t>&amp;)", "&"),
    (r"(?P<t>&lt;)", "<"),
    (r"(?P<t>&gt;)", ">"),
    (r"(?P<t>\S)", None),
]
_COMPILED = [(re.compile(p), rep) for p, rep in _RULES]
_WS = re.compile(rf"(?:{_SPACE}|[\r\n\u2028\u2029\u000B\u000C\u0085])+")


def ptb_tokens(line: str) -> list[str]:
    """PTB tokens of one line, lower-cased, before punctuation removal."""
    out: list[str] = []
    pos, n = 0, len(line)
    prev_was_space = True
    while pos < n:
        m = _WS.match(line, pos)
        if m:
            pos = m.end()
            prev_was_space = True
            continue
        best_len, best_tok, best_rep = -1, "", None
        for rx, rep in _COMPILED:
            mm = rx.match(line, pos)
            if mm is None:
                continue
            length = mm.end() - pos
            if length > best_len:
                best_len, best_tok, best_rep = length, mm.group("t"), rep
        ab_len, ab_tok = _abbrev_len(line, pos)
        if ab_len > best_len:
            best_len, best_tok, best_rep = ab_len, ab_tok, None
        tok = best_rep if best_rep is not None else best_tok
        if tok == '"':
            tok = "``" if prev_was_space or not out else "''"
        elif tok in ("'", "`") and (prev_was_space or not out):
            tok = "`"
        pos += len(best_tok)
        prev_was_space = False
        out.append(tok.lower())
    return out


@lru_cache(maxsize=65536)
def tokenize(text: str) -> str:
    """pycocoevalcap's PTBTokenizer output for one caption: lower-case, punctuation tokens removed,
    tokens joined by single spaces (newlines inside a caption count as spaces, as there)."""
    toks = ptb_tokens(text.replace("\n", " "))
    return " ".join(t for t in toks if t not in PUNCTUATIONS)
