"""Box-codec parsing time on hostile model output: linear in the text's length (issue 18.8).

For every family and every hostile fragment (unclosed markup of each format, long whitespace and
digit runs, a seeded mix of all of them) the parser reads texts of 12.5 KB to 100 KB (the codec's
cap; a 1 MB text is cut there) and the growth exponent of time over that range is fitted (1 =
linear, 2 = quadratic; least squares over the four sizes up to the cap). Time per text is the best
of `--repeat` runs in process CPU time, on one core. Bound: every case under 0.25 s at 100 KB and at 1 MB (the quadratic
fence regex this replaced took 70 s at 100 KB) and, where a case takes over 5 ms at 100 KB (below
that, timer noise on a shared machine dominates the fit), a growth exponent under 1.5.
Exit status 1 when the bound is broken. Prints one line per fragment, then one JSON object (last line).
Usage: python bench/box_parsers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time

from radrl_dist.boxes.codecs import _MAX_TEXT, BoxCodec
from radrl_dist.models.families import BOX_FORMAT_NAMES, get_codec

SIZES = (12_500, 25_000, 50_000, 100_000, 1_000_000)
FRAGMENTS = {
    "box_start_paren": "<|box_start|>(",
    "box_half": "<|box_start|>(1,2),(3,",
    "object_ref": "<|object_ref_start|>a",
    "ref_box_unclosed": "<|object_ref_start|>x<|object_ref_end|><|box_start|>(1,2),(3,4)",
    "bbox_open": '{"bbox_2d": [',
    "bbox_unclosed": '{"bbox_2d": [1, 2, 3, 4',
    "bbox_label_open": '{"bbox_2d": [1,2,3,4], "label": "',
    "bbox_many_in_one": '"bbox_2d": [1, 2, 3, 4] ',
    "bracket_half": "[1, 2, 3,",
    "nested_open": "[",
    "digits": "1",
    "fence": "```",
    "escaped_quote": '"label": "\\',
}
SPACES = "spaces_inside"  # "x" + whitespace + "x": a `\s*` tried at every position is quadratic here
MIX = "seeded_mix"


def hostile_text(kind: str, n: int) -> str:
    if kind == SPACES:
        return "x" + " " * (n - 2) + "x"
    if kind == MIX:  # a seeded 10 KB unit of runs of every fragment, repeated (same mix at every size)
        rng = random.Random(0)
        frags = list(FRAGMENTS.values()) + [" " * 50]
        unit = "".join(rng.choice(frags) * rng.randint(1, 40) for _ in range(200))[:10_000]
        return (unit * (n // len(unit) + 1))[:n]
    frag = FRAGMENTS[kind]
    return "{" + (frag * (n // len(frag) + 1))[: n - 1] if kind == "bbox_many_in_one" else (frag * (n // len(frag) + 1))[:n]


def growth_exponent(sizes, secs) -> float:
    """Slope of log(time) over log(size): 1 for linear, 2 for quadratic."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(max(t, 1e-7)) for t in secs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def best_seconds(codec: BoxCodec, text: str, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.process_time()  # CPU time: waiting for a core on a shared machine is not parse time
        codec.parse(text, (1000.0, 1000.0), (812.0, 924.0))
        best = min(best, time.process_time() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    try:
        import os

        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    cases, worst_s, worst_exp, broken = {}, 0.0, 0.0, []
    t_all = time.perf_counter()
    for kind in [*FRAGMENTS, SPACES, MIX]:
        line = []
        for family in BOX_FORMAT_NAMES:
            codec = get_codec(family)
            secs = [best_seconds(codec, hostile_text(kind, n), args.repeat) for n in SIZES]
            cap = SIZES.index(_MAX_TEXT)
            at_cap = secs[cap]
            exponent = growth_exponent(SIZES[: cap + 1], secs[: cap + 1])
            cases[f"{kind}/{family}"] = {"ms": [round(s * 1e3, 3) for s in secs], "exponent": round(exponent, 2)}
            worst_s = max(worst_s, at_cap, secs[-1])
            if at_cap > 0.005:
                worst_exp = max(worst_exp, exponent)
            if max(at_cap, secs[-1]) > 0.25 or (at_cap > 0.005 and exponent > 1.5):
                broken.append(f"{kind}/{family}")
            line.append(f"{family} {at_cap * 1e3:.2f} ms (x{exponent:.2f})")
        print(f"{kind:18s} at 100 KB: " + ", ".join(line), flush=True)
    ok = not broken
    print(f"worst parse at 100 KB / 1 MB: {worst_s * 1e3:.1f} ms; worst growth exponent (cases over 5 ms): "
          f"{worst_exp:.2f}; bound {'held' if ok else 'BROKEN: ' + ', '.join(broken)}")
    print(json.dumps({"worst_parse_ms": round(worst_s * 1e3, 2), "worst_growth_exponent": round(worst_exp, 2),
                      "cap_chars": _MAX_TEXT, "sizes": list(SIZES), "bound_held": ok, "broken": broken,
                      "wall_s": round(time.perf_counter() - t_all, 1), "cases": cases}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
