"""METEOR 1.5 through the jar pycocoevalcap ships, with the same command line and stdio protocol.

There is no exact Python port of METEOR 1.5 (paraphrase table, stemmer, its own aggregation), so we
run the jar. When Java or the jar is missing, or the jar fails, the caller gets `None` and a reason,
never 0: a missing metric must not look like a bad model.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class MeteorResult:
    score: float | None
    per_sample: np.ndarray | None
    reason: str | None = None  # why score is None


def meteor_jar() -> Path | None:
    """meteor-1.5.jar inside the installed pycocoevalcap (found without importing it)."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    jar = Path(list(spec.submodule_search_locations)[0]) / "meteor" / "meteor-1.5.jar"
    return jar if jar.exists() else None


def meteor(cands: Sequence[str], refs: Sequence[Sequence[str]], timeout_s: float = 300.0) -> MeteorResult:
    """Corpus METEOR (the jar's aggregate, not the mean of segments) and per-sample scores, on
    PTB-tokenised text, as pycocoevalcap's `Meteor.compute_score`."""
    java = shutil.which("java")
    if java is None:
        return MeteorResult(None, None, "java not found on PATH (METEOR 1.5 needs a Java runtime)")
    jar = meteor_jar()
    if jar is None:
        return MeteorResult(None, None, "meteor-1.5.jar not found (install pycocoevalcap==1.2)")
    if len(cands) == 0:
        return MeteorResult(None, None, "no samples")
    cmd = [java, "-jar", "-Xmx2G", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"]
    proc = subprocess.Popen(
        cmd, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    timer = threading.Timer(timeout_s, proc.kill)  # a hung jar must not hang evaluation
    timer.start()
    try:

        def ask(line: str) -> str:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write((line + "\n").encode())
            proc.stdin.flush()
            out = proc.stdout.readline().decode().strip()
            if not out:
                raise RuntimeError("METEOR jar closed its output (killed after timeout or crashed)")
            return out

        stats = []
        for c, rs in zip(cands, refs):
            hyp = c.replace("|||", "").replace("  ", " ")
            stats.append(ask(" ||| ".join(("SCORE", " ||| ".join(rs), hyp))))
        first = ask("EVAL ||| " + " ||| ".join(stats))
        assert proc.stdout is not None
        rest = [proc.stdout.readline().decode().strip() for _ in range(len(cands))]
        values = [float(x) for x in [first, *rest]]
        return MeteorResult(values[-1], np.asarray(values[:-1], dtype=float))
    except (RuntimeError, ValueError, OSError) as exc:
        return MeteorResult(None, None, f"METEOR jar failed: {exc}")
    finally:
        timer.cancel()
        if proc.stdin is not None:
            proc.stdin.close()
        proc.kill()
        proc.wait()
