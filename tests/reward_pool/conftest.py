"""Shared pieces of the reward-pool tests: request streams and the in-process oracle."""

from __future__ import annotations

import numpy as np
import pytest

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import get_codec
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.models.corpus import SENTENCES
from radrl_dist.rewards.composite import CompositeReward, RewardBatch
from radrl_dist.rewards.pool.composite_scoring import spec_from_config
from radrl_dist.rewards.pool.types import ScoreRequest

SIZE = (200.0, 250.0)


def make_requests(n: int, prefix: str = "c", start: int = 0) -> list[ScoreRequest]:
    """A mix of report candidates (tagged, untagged, empty, given reference labels) and grounding
    candidates with boxes in the qwen2_vl codec; groups of 4 share a reference like GRPO groups."""
    out, k = [], len(SENTENCES)
    codec = get_codec("qwen2_vl")
    ref_box = Box(20, 30, 120, 150, label="Cardiomegaly")
    for i in range(start, start + n):
        a, b, ref = SENTENCES[i % k], SENTENCES[(i * 7 + 3) % k], SENTENCES[(i // 4) % k]
        cid = f"{prefix}{i}"
        if i % 5 == 4:
            pred = Box(20 + i % 30, 30, 120, 150 + i % 17, label="Cardiomegaly")
            text = f"<think>look</think><answer>{codec.encode([pred], SIZE)}</answer>" if i % 10 == 4 else "no box"
            out.append(ScoreRequest(cid, "grounding", text, reference_boxes=(ref_box,), image_size=SIZE))
            continue
        text = f"<think>reason {i}</think><report>{a} {b}</report>" if i % 3 else f"{a} {b}"
        if i % 11 == 0:
            text = "   "
        labels = tuple(int(x) for x in (np.arange(14) * (i % 4) % 4)) if i % 7 == 0 else None
        out.append(ScoreRequest(cid, "report", text, reference_text=ref, reference_labels=labels))
    return out


def direct_scores(cfg, requests: list[ScoreRequest], spec: str = "rules"):
    """What an in-process caller gets: CompositeReward with the labeller called directly."""
    comp = CompositeReward(spec_from_config(cfg), labeler=build_labeler(spec))
    given = [r.reference_labels for r in requests]
    ref = None
    if all(g is not None for g in given):
        ref = np.asarray(given, dtype=np.int8)
    batch = RewardBatch(tasks=[r.task for r in requests], texts=[r.text for r in requests],
                        reference_reports=[r.reference_text for r in requests], reference_labels=ref,
                        boxes=[list(r.reference_boxes) for r in requests], image_sizes=[r.image_size for r in requests])
    return comp.score(batch)


def assert_same_as_direct(cfg, requests, results, spec: str = "rules") -> None:
    """Pool records equal the in-process composite, component by component (no tolerance).
    Requests with given reference labels are checked one at a time (the batch takes all or none)."""
    plain = [i for i, r in enumerate(requests) if r.reference_labels is None]
    given = [i for i, r in enumerate(requests) if r.reference_labels is not None]
    for idx in (plain, given):
        if not idx:
            continue
        res = direct_scores(cfg, [requests[i] for i in idx], spec)
        for j, i in enumerate(idx):
            r, got = requests[i], results[i]
            assert got.candidate_id == r.candidate_id
            assert got.reward == res.total[j], (r.candidate_id, got, res.total[j])
            want = {k.split("/", 1)[1]: float(v[j]) for k, v in res.components.items() if k.startswith(r.task + "/")}
            assert got.components == want


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray per test file, on loopback, 4 logical CPUs (actors take fractions)."""
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()
