"""GLEU's scorer form against nltk's sentence_gleu (the formula HF's google_bleu uses), and the
model-based components are selectable by name in a composite spec and from the config."""

import numpy as np
import pytest

from radrl_dist.config import load_config
from radrl_dist.metrics.ptb_tokenize import tokenize
from radrl_dist.rewards.model_based.factory import build_scorer
from radrl_dist.rewards.pool.composite_scoring import spec_from_config
from radrl_dist.rewards.registry import known_rewards

from .conftest import CANDS, REFS


def test_gleu_matches_nltk_sentence_gleu():
    gleu_score = pytest.importorskip("nltk.translate.gleu_score")
    want = [gleu_score.sentence_gleu([tokenize(r).split()], tokenize(c).split()) for c, r in zip(CANDS, REFS)]
    np.testing.assert_allclose(build_scorer("gleu").score(CANDS, REFS), want, atol=1e-12)


def test_components_are_registered_and_config_routes_paths():
    assert {"bertscore", "chexbert_cosine", "radgraph_f1", "neg_radcliq", "gleu"} <= set(known_rewards())
    cfg = load_config(None, ["reward.labeler=chexbert:/m/chexbert.pth", "reward.weights={report: {neg_radcliq: 1}, "
                             "grounding: {iou: 1}}", "reward.model_rewards.bertscore_model=/m/distilroberta-base"])
    p = spec_from_config(cfg.reward).params["neg_radcliq"]
    assert p["bertscore_model"] == "/m/distilroberta-base" and p["chexbert"] == "/m/chexbert.pth"
    assert p["bertscore_layers"] == 5 and p["max_chars"] == 2048 and p["min_chars"] == 5
    assert "neg_radcliq" not in spec_from_config(load_config(None, []).reward).params  # untouched defaults


def test_unknown_scorer_and_missing_radgraph_name_the_fix():
    with pytest.raises(ValueError, match="known"):
        build_scorer("radcliq_v2")
    with pytest.raises(ValueError, match="model_rewards.radgraph"):
        build_scorer("radgraph_f1", {})
