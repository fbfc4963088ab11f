"""GLEU (Google-BLEU, Wu et al. 2016), RadVLM-GRPO's lexical ablation reward, as a PairScorer.

No model: the formula lives in `radrl_dist.rewards.nlg.gleu` (sentence GLEU, n-grams 1..4,
matches / max(candidate, reference n-gram counts), pycocoevalcap tokenisation); this wrapper only
gives it the scorer interface so it can be hosted and logged like the model-based ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radrl_dist.rewards.model_based.base import PairScorer, check_pairs
from radrl_dist.rewards.nlg import gleu


class Gleu(PairScorer):
    name = "gleu"

    @property
    def version(self) -> str:
        return "gleu-1-4"

    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        cands, refs = check_pairs(candidates, references)
        return {"value": gleu(cands, refs) if cands else np.zeros(0)}
