"""Parse time of hostile model outputs: the answer extractor and format reward (rewards/format.py)
on 20 KB, 160 KB and 1 MB of repeated tags, and the slope of log(time) over log(size)
(1.0 = linear; the regex extractor this replaced had 2). Times are CPU seconds of this process.

They all run inside the reward router on every candidate, so one quadratic parser lets one output hold
all scoring. The router also cuts outputs at reward.max_output_chars before parsing; this bench parses
the uncut text, to measure the parsers themselves.

Usage: python bench/parsers.py [--repeat 3]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {"20kb": 20 << 10, "160kb": 160 << 10, "1mb": 1 << 20}


def hostile(kind: str, n: int) -> str:
    unit = {"unclosed_think": "<think>", "alternating": "<think>a</think>", "open_report": "<report>"}[kind]
    return unit * (n // len(unit))


def best_of(fn, repeat: int) -> float:
    """Least CPU time of this process over `repeat` runs: on a shared machine wall time mostly
    measures the other jobs (a long run is preempted more often than a short one, which bends the
    slope upward)."""
    out = math.inf
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out = min(out, time.process_time() - t)
    return out


def slope(times: dict[str, float]) -> float:
    """Least-squares slope of log(time) on log(size) over the three sizes."""
    xs = [math.log(SIZES[k]) for k in times]
    ys = [math.log(max(v, 1e-7)) for v in times.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from radrl_dist.rewards.format import extract_answer, format_score

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other work shares these cores)")
    cases = {
        "extract+format/unclosed_think": ("unclosed_think", lambda t: (extract_answer(t), format_score(t))),
        "extract+format/alternating": ("alternating", lambda t: (extract_answer(t), format_score(t))),
        "extract+format/open_report": ("open_report", lambda t: (extract_answer(t), format_score(t))),
    }
    out: dict = {"cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    worst = 0.0
    for name, (kind, fn) in cases.items():
        times = {}
        for label, n in SIZES.items():
            text = hostile(kind, n)
            times[label] = best_of(lambda: fn(text), args.repeat)
        k = slope(times)
        worst = max(worst, k)
        print(f"{name:<32} " + "  ".join(f"{lb} {v * 1e3:9.2f} ms" for lb, v in times.items()) + f"  slope {k:.2f}")
        out.update({f"{name}/{lb}_s": round(v, 6) for lb, v in times.items()})
        out[f"{name}/slope"] = round(k, 3)
    # What the replaced extractor did: its regex alone on 20 KB and 40 KB of unclosed <think> tags.
    old = {lb: best_of(lambda t=hostile("unclosed_think", n): re.sub(r"<think>.*?</think>", " ", t, flags=re.S), 1)
           for lb, n in (("20kb", 20 << 10), ("40kb", 40 << 10))}
    print(f"replaced regex extractor, unclosed_think: 20kb {old['20kb']:.2f} s, 40kb {old['40kb']:.2f} s "
          f"(x{old['40kb'] / old['20kb']:.1f} for 2x the size)")
    out["old_regex/20kb_s"], out["old_regex/40kb_s"] = round(old["20kb"], 4), round(old["40kb"], 4)
    out["worst_slope"] = round(worst, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
