"""RadCliQ-v1 (Yu et al. 2023) and RadVLM-GRPO's reward -RadCliQ-v1.

RadCliQ-v1 = standardise [RadGraph, BERTScore, s_emb, BLEU] with the published scaler, then a linear
model with the published coefficients (CXR-Report-Metric's radcliq-v1.pkl, as RadEval restates
them). Lower is better. BLEU's coefficient is 4.3e-12, so which BLEU is used (CXR-Report-Metric's
fast_bleu BLEU-2, or BLEU-4 as RECIPES.md says; we use pycocoevalcap sentence BLEU-4) moves RadCliQ
by less than 1e-11.

The reward (RadVLM-GRPO): texts lowercased and cut at 2,048 characters; reward = -RadCliQ-v1;
-3 for an empty answer (<= 5 characters), a text that failed to score, or, in thinking mode, a
missing answer block (no </think>): see `neg_radcliq_reward`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from radrl_dist.rewards.model_based.base import PairScorer, check_pairs

COLUMNS = ("radgraph", "bertscore", "semb", "bleu")
SCALER_MEAN = np.array([0.53792312, 0.61757256, 0.76479421, 0.44738335])
SCALER_SCALE = np.array([0.30282584, 0.22430938, 0.25394391, 0.29892717])
COEFS = np.array([-3.77083683e-01, -3.70300100e-01, -2.52616218e-01, 4.31504841e-12])
INTERCEPT = 2.46655256e-10
MAX_CHARS = 2048
MIN_CHARS = 5  # an answer of at most this many characters counts as empty
FAIL_REWARD = -3.0


def radcliq_v1(features: np.ndarray) -> np.ndarray:
    """RadCliQ-v1 of float [N, 4] features in COLUMNS order."""
    x = np.asarray(features, dtype=np.float64).reshape(-1, len(COLUMNS))
    return ((x - SCALER_MEAN) / SCALER_SCALE) @ COEFS + INTERCEPT


def prepare(text: str, max_chars: int = MAX_CHARS) -> str:
    """RadVLM-GRPO's text handling before scoring: lowercase, cut at `max_chars` characters."""
    return text.lower()[:max_chars]


def neg_radcliq_reward(radcliq: np.ndarray, answers: Sequence[str], answer_ok: np.ndarray | None = None,
                       min_chars: int = MIN_CHARS, fail: float = FAIL_REWARD) -> tuple[np.ndarray, np.ndarray]:
    """(-RadCliQ with `fail` for empty / failed / tag-less answers, bool mask of those)."""
    r = -np.asarray(radcliq, dtype=np.float64)
    bad = ~np.isfinite(r) | np.array([len(a.strip()) <= min_chars for a in answers], dtype=bool)
    if answer_ok is not None:
        bad |= ~np.asarray(answer_ok, dtype=bool)
    return np.where(bad, fail, r), bad


class RadCliQ(PairScorer):
    """Parts: value (RadCliQ-v1, lower is better) and its four inputs."""

    name = "radcliq"

    def __init__(self, bertscore: PairScorer, semb: PairScorer, radgraph: PairScorer,
                 bleu: Callable[[list[str], list[str]], np.ndarray], max_chars: int = MAX_CHARS) -> None:
        self.bertscore, self.semb, self.radgraph, self.bleu = bertscore, semb, radgraph, bleu
        self.max_chars = int(max_chars)

    @property
    def version(self) -> str:
        return f"radcliq-v1[{self.bertscore.version},{self.semb.version},{self.radgraph.version}]"

    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        cands, refs = check_pairs(candidates, references)
        cands = [prepare(c, self.max_chars) for c in cands]
        refs = [prepare(r, self.max_chars) for r in refs]
        feats = {"radgraph": self.radgraph.score_parts(cands, refs)["radcliq"],
                 "bertscore": self.bertscore.score(cands, refs),
                 "semb": self.semb.score(cands, refs),
                 "bleu": np.asarray(self.bleu(cands, refs), dtype=np.float64)}
        value = radcliq_v1(np.column_stack([feats[c] for c in COLUMNS])) if cands else np.zeros(0)
        return {"value": value, **feats}
