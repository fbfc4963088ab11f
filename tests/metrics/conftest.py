"""Shared fixtures: real IU X-Ray report text (torchxrayvision's archive) for metric oracles."""

import random
import shutil

import pytest

from radrl_dist.data.iu_xray_reports import load_reports

HAS_JAVA = shutil.which("java") is not None


@pytest.fixture(scope="session")
def iu_texts() -> list[str]:
    return [r.text for r in load_reports() if r.text]


@pytest.fixture(scope="session")
def iu_pairs(iu_texts) -> tuple[list[str], list[str]]:
    """50 (candidate, reference) pairs of different real reports, plus an empty candidate."""
    rng = random.Random(12)
    sel = rng.sample(iu_texts, 100)
    cands, refs = sel[:50], sel[50:]
    cands[7] = ""
    return cands, refs
