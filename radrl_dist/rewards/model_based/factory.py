"""`build_scorer(name, params)`: the one place a config (reward.model_rewards) becomes a scorer.

`params` are the fields of `ModelRewardsConfig` (config/schema.py) as a dict; every scorer reads
only the ones it needs and names the missing one when a path is not set. `tiny_dir` replaces the
BERTScore and CheXbert paths by tiny random models built there (smoke runs, tests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from radrl_dist.rewards.model_based.base import PairScorer
from radrl_dist.rewards.model_based.radcliq import MAX_CHARS, RadCliQ
from radrl_dist.rewards.nlg import bleu4

# reward component name -> scorer it needs (components.py registers these; the pool hosts them)
MODEL_COMPONENTS: dict[str, str] = {"bertscore": "bertscore", "chexbert_cosine": "chexbert_cosine",
                                    "radgraph_f1": "radgraph_f1", "neg_radcliq": "radcliq"}
SCORERS = ("bertscore", "chexbert_cosine", "radgraph_f1", "radcliq", "gleu")
_CACHE: dict[tuple, PairScorer] = {}


def _need(p: Mapping[str, Any], key: str, what: str) -> str:
    v = p.get(key)
    if not v:
        raise ValueError(f"{what} needs reward.model_rewards.{key} (a local path; see README 'Model-based "
                         f"report rewards'); it is not set")
    return str(v)


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params with `tiny_dir` expanded into the tiny models' paths."""
    p = dict(params)
    if p.get("tiny_dir"):
        from radrl_dist.rewards.model_based.tiny import ensure_tiny_model_rewards  # lazy: model-based scorer, on demand

        p.update(ensure_tiny_model_rewards(p["tiny_dir"]))
        p["chexbert_tokenizer"] = None
    return p


def build_scorer(name: str, params: Mapping[str, Any] | None = None, device: str = "cpu") -> PairScorer:
    """A fresh scorer `name` (one of SCORERS) from config params; bad names/paths raise naming them."""
    p = resolve_params(params or {})
    bs = int(p.get("batch_size") or 32)
    if name == "bertscore":
        # lazy: model-based scorer, on demand
        from radrl_dist.rewards.model_based.bertscore import DISTILROBERTA_BASELINE, BertScore

        base = p.get("bertscore_baseline") or (DISTILROBERTA_BASELINE if p.get("bertscore_rescale", True) else None)
        return BertScore(_need(p, "bertscore_model", "BERTScore"), num_layers=int(p.get("bertscore_layers") or 5),
                         baseline=base, device=device, batch_size=bs)
    if name == "chexbert_cosine":
        from radrl_dist.rewards.model_based.chexbert_similarity import CheXbertSimilarity  # lazy: model-based scorer, on demand

        return CheXbertSimilarity(_need(p, "chexbert", "CheXbert embedding cosine"), p.get("chexbert_tokenizer"),
                                  device=device, batch_size=bs)
    if name == "radgraph_f1":
        from radrl_dist.rewards.model_based.radgraph import RadGraphF1  # lazy: model-based scorer, on demand
        from radrl_dist.rewards.model_based.radgraph_extract import build_extractor  # lazy: model-based scorer, on demand

        return RadGraphF1(build_extractor(_need(p, "radgraph", "RadGraph F1"), device),
                          level=p.get("radgraph_level") or "partial")
    if name == "radcliq":
        # cached: a run weighting both bertscore and neg_radcliq loads distilroberta once per process
        return RadCliQ(cached_scorer("bertscore", p, device), cached_scorer("chexbert_cosine", p, device),
                       cached_scorer("radgraph_f1", p, device), bleu4, max_chars=int(p.get("max_chars") or MAX_CHARS))
    if name == "gleu":
        from radrl_dist.rewards.model_based.gleu import Gleu  # lazy: model-based scorer, on demand

        return Gleu()
    raise ValueError(f"unknown model-based scorer {name!r}; known: {SCORERS}")


def cached_scorer(name: str, params: Mapping[str, Any] | None = None, device: str = "cpu") -> PairScorer:
    """build_scorer, once per (name, params, device) in this process (models load once)."""
    key = (name, json.dumps(dict(params or {}), sort_keys=True, default=str), device)
    if key not in _CACHE:
        _CACHE[key] = build_scorer(name, params, device)
    return _CACHE[key]
