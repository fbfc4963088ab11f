"""Load the rule labeler's phrase files and compile them into scanning regexes.

Why buckets: at each word start only the phrases that can begin with its first character are tried
(one compiled alternation per character), which is what makes the rule labeler fast (thousands of
reports/s on one core). Each phrase gets its own named group; `kinds[group]` says what it is. Alternatives are tried in tier order
(ignore, pseudo, mentions, post cues, qualifiers, pre cues, terminators, attributes) and, inside a
tier, longest pattern first, so "no change" wins over "no" and "pleural effusion" over "effusion".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from re import _constants as sre_c, _parser as sre_parser  # pattern trees: key sets, repetition checks

import yaml

from radrl_dist.constants import OBSERVATION_INDEX

PHRASE_FILES = ("mentions.yaml", "cues.yaml")


@dataclass(frozen=True)
class Kind:
    """What a matched group means: an event kind and, for mentions/attributes, observation ids."""

    kind: str  # ign pse men att sent soft term neg unc bunc pneg punc qpos qneg qunc
    obs: tuple[int, ...] = ()


@dataclass
class CompiledRules:
    """Per first character, one regex of every phrase that can start with it (in priority order)."""

    buckets: dict[str, re.Pattern[str]]
    kinds: dict[str, Kind]
    version: str


def _fragment(phrase: str) -> str:
    """Phrase syntax -> regex: " ?" is an optional space/hyphen run, " " a required one."""
    if not isinstance(phrase, str) or not phrase.strip():
        raise ValueError(f"empty or non-string phrase {phrase!r}")
    frag = phrase.strip().replace(" ?", r"[\s\-]*").replace(" ", r"[\s\-]+")
    try:
        re.compile(frag)
    except re.error as exc:
        raise ValueError(f"phrase {phrase!r} is not a valid regex fragment: {exc}") from exc
    if _unbounded_group_repeat(sre_parser.parse(frag)):
        raise ValueError(f"phrase {phrase!r} repeats a group without bound (+ or *); write {{1,3}} or "
                         f"{{0,3}}: the labeler scans model output, where such a phrase is quadratic")
    return frag


_SINGLE_CHAR = {sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY, sre_c.CATEGORY}
_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", sre_c.MAX_REPEAT)}


def _unbounded_group_repeat(items) -> bool:
    """True when a pattern tree repeats more than one character's matcher without an upper bound
    ("(?:pulmonary |venous )+"): at every word of a long run of such words the match re-scans the
    whole run, so the scan of hostile model output is quadratic. `\\w*` and `[\\s\\-]+` stay allowed."""
    for op, av in items:
        if op in _REPEATS:
            _, hi, sub = av
            sub = list(sub)
            if hi == sre_c.MAXREPEAT and not (len(sub) == 1 and sub[0][0] in _SINGLE_CHAR):
                return True
            if _unbounded_group_repeat(sub):
                return True
        elif op is sre_c.BRANCH:
            if any(_unbounded_group_repeat(list(b)) for b in av[1]):
                return True
        elif op is sre_c.SUBPATTERN:
            if _unbounded_group_repeat(list(av[3])):
                return True
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            if _unbounded_group_repeat(list(av[1])):
                return True
    return False


def _obs_ids(names: list[str] | str, where: str) -> tuple[int, ...]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in OBSERVATION_INDEX]
    if unknown:
        raise ValueError(f"{where}: unknown observation(s) {unknown}; known: {sorted(OBSERVATION_INDEX)}")
    return tuple(OBSERVATION_INDEX[n] for n in names)


def load_phrase_data(directory: str | Path | None = None) -> tuple[dict, dict, str]:
    """(mentions, cues, version hash) from `directory` or the packaged phrase files."""
    texts = []
    for fname in PHRASE_FILES:
        if directory is None:
            texts.append(resources.files("radrl_dist.labelers").joinpath("phrases").joinpath(fname).read_text("utf-8"))
        else:
            path = Path(directory) / fname
            if not path.is_file():
                raise FileNotFoundError(f"rule labeler phrase file {path} not found")
            texts.append(path.read_text("utf-8"))
    version = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]
    return yaml.safe_load(texts[0]) or {}, yaml.safe_load(texts[1]) or {}, version


def compile_rules(directory: str | Path | None = None) -> CompiledRules:
    """Build the scanning regex. Bad phrase data raises with the phrase or observation named."""
    mentions, cues, version = load_phrase_data(directory)
    tiers: list[list[tuple[str, Kind]]] = []

    def tier(items: list[tuple[str, Kind]]) -> None:
        for phrase, _ in items:
            if not isinstance(phrase, str):
                raise ValueError(f"phrase {phrase!r} is not a string (quote YAML words like no/yes/on/off)")
        tiers.append(sorted(items, key=lambda it: -len(it[0])))

    tier([(p, Kind("ign")) for p in mentions.get("ignore", [])])
    tier([(p, Kind("pse")) for p in cues.get("pseudo", [])])
    men = [(p, Kind("men", _obs_ids(o, f"also[{p!r}]"))) for p, o in (mentions.get("also") or {}).items()]
    for obs, phrases in (mentions.get("mentions") or {}).items():
        ids = _obs_ids(obs, "mentions")
        men += [(p, Kind("men", ids)) for p in phrases]
    tier(men)
    tier([(p, Kind("punc")) for p in cues.get("post_uncertainty", [])]
         + [(p, Kind("pneg")) for p in cues.get("post_negation", [])])
    quals = cues.get("qualifiers") or {}
    tier([(p, Kind("qunc")) for p in quals.get("uncertain", [])])
    tier([(p, Kind("qneg")) for p in quals.get("negative", [])] + [(p, Kind("qpos")) for p in quals.get("positive", [])])
    tier([(p, Kind("bunc")) for p in cues.get("bidirectional_uncertainty", [])]
         + [(p, Kind("unc")) for p in cues.get("uncertainty", [])])
    tier([(p, Kind("neg")) for p in cues.get("negation", [])])
    tier([(p, Kind("term")) for p in cues.get("terminators", [])])
    att_ids: dict[str, tuple[int, ...]] = {}  # a subject listed under several observations speaks for all
    for obs, phrases in (mentions.get("attributes") or {}).items():
        ids = _obs_ids(obs, "attributes")
        for p in phrases:
            att_ids[p] = att_ids.get(p, ()) + ids
    tier([(p, Kind("att", ids)) for p, ids in att_ids.items()])

    kinds: dict[str, Kind] = {}
    by_key: dict[str, list[str]] = {}
    items = [(p, k) for t in tiers for p, k in t] + [("and", Kind("soft")), ("with", Kind("soft"))]
    for phrase, kind in items:
        name = f"g{len(kinds)}"
        kinds[name] = kind
        frag = _fragment(phrase)
        firsts = _first_keys(frag)
        if firsts is None:
            raise ValueError(f"phrase {phrase!r} must start with definite letters (not \\w, . or a class)")
        alt = f"(?P<{name}>{frag}(?!\\w))" if re.match(r"\w", phrase.strip()) else f"(?P<{name}>{frag})"
        for c in firsts:
            by_key.setdefault(c, []).append(alt)
    kinds["sent"] = Kind("sent")
    kinds["soft"] = Kind("soft")
    for c in ".!?":
        by_key.setdefault(c, []).append(rf"(?P<sent>\{c}(?=\s|$))")
    by_key.setdefault("\n", []).append(r"(?P<sent>\n)")
    by_key.setdefault(",", []).append(r"(?P<soft>,)")
    buckets = {c: re.compile("|".join(alts)) for c, alts in by_key.items()}
    return CompiledRules(buckets, kinds, version)


# Tokens where an event may start: words (keyed by their first 3 letters) and meaningful punctuation.
TOKENS = re.compile(r"\w+|[.!?,;:\n]")
KEY_LEN = 3
_MAX_KEYS = 4000


def _first_keys(frag: str) -> set[str] | None:
    """The keys (first word cut to KEY_LEN characters, or a leading punctuation mark) a match of
    `frag` can start with; None when that is not knowable (e.g. a leading \\w). Lets the scanner try
    only the few phrases that can start at each word instead of all of them."""
    c, parser = sre_c, sre_parser

    class Unknown(Exception):
        pass

    def add(states: set, out: set, ch: str) -> None:
        for s, done in states:
            if done:
                out.add((s, True))
            elif ch.isalnum() or ch == "_":
                out.add((s + ch, len(s) + 1 >= KEY_LEN))
            else:
                out.add((s or ch, True))

    def seq(items, states: set) -> set:
        for op, av in items:
            if all(done for _, done in states):
                return states
            states = one(op, av, states)
            if len(states) > _MAX_KEYS:
                raise Unknown
        return states

    def one(op, av, states: set) -> set:
        if op is c.LITERAL:
            out: set = set()
            add(states, out, chr(av))
            return out
        if op is c.IN:
            out = set()
            for iop, iav in av:
                if iop is c.LITERAL:
                    add(states, out, chr(iav))
                elif iop is c.RANGE:
                    for x in range(iav[0], iav[1] + 1):
                        add(states, out, chr(x))
                elif iop is c.CATEGORY and iav is c.CATEGORY_SPACE:
                    add(states, out, " ")
                else:
                    raise Unknown
            return out
        if op is c.BRANCH:
            return set().union(*(seq(list(sub), states) for sub in av[1]))
        if op is c.SUBPATTERN:
            return seq(list(av[3]), states)
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)):
            lo, hi, sub = av
            result, cur = set(), states
            for i in range(KEY_LEN + 1):
                if i >= lo:
                    result |= cur
                if i >= hi:
                    break
                cur = seq(list(sub), cur)
            return result | {st for st in cur if st[1]}
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return states
        raise Unknown

    try:
        states = seq(list(parser.parse(frag)), {("", False)})
    except Unknown:
        return None
    keys = {s for s, _ in states}
    return None if "" in keys else keys
