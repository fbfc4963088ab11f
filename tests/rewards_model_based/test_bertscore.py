"""BERTScore on a tiny distilroberta-layout model: against the bert-score package (0.3.13) run on
the same local weights, and against a float64 re-derivation from the full model's hidden states."""

from pathlib import Path

import numpy as np
import pytest
import torch

from radrl_dist.rewards.model_based.bertscore import DISTILROBERTA_BASELINE, BertScore, read_baseline
from radrl_dist.rewards.model_based.factory import build_scorer

from .conftest import CANDS, REFS

TOL = 1e-5  # float32 model states; the two implementations pad and batch differently


def test_published_baseline_matches_the_package_file():
    bert_score = pytest.importorskip("bert_score")
    tsv = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv"
    assert read_baseline(tsv, 5) == pytest.approx(DISTILROBERTA_BASELINE, abs=1e-9)


def test_matches_bert_score_package(tiny_paths, tmp_path):
    bert_score = pytest.importorskip("bert_score")
    from transformers import AutoTokenizer

    tsv = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv"
    d = tiny_paths["bertscore_model"]
    ref = bert_score.BERTScorer(model_type=d, num_layers=5, lang="en", rescale_with_baseline=True,
                                baseline_path=str(tsv), batch_size=1)
    # bert-score asks RoBERTa for add_prefix_space=True per call, which transformers 5 ignores; give
    # it the tokenizer it gets under transformers 4 (prefix space on), as ours loads it
    ref._tokenizer = AutoTokenizer.from_pretrained(d, add_prefix_space=True)
    P, R, F = (x.numpy().astype(np.float64) for x in ref.score(CANDS, REFS))
    got = BertScore(d).score_parts(CANDS, REFS)
    np.testing.assert_allclose(got["value"], F, atol=TOL, rtol=0)
    np.testing.assert_allclose(got["precision"], P, atol=TOL, rtol=0)
    np.testing.assert_allclose(got["recall"], R, atol=TOL, rtol=0)


def test_float64_rederivation_from_full_model_hidden_states(tiny_paths):
    from transformers import AutoModel, AutoTokenizer

    d = tiny_paths["bertscore_model"]
    tok = AutoTokenizer.from_pretrained(d, add_prefix_space=True)
    model = AutoModel.from_pretrained(d).double().eval()

    def states(text):
        ids = tok(text.strip())["input_ids"]
        with torch.no_grad():
            h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[5][0].numpy()
        return ids, h / np.linalg.norm(h, axis=1, keepdims=True)

    b = np.array(DISTILROBERTA_BASELINE)
    s = BertScore(d)
    got = s.score_parts(CANDS, REFS)
    for k, (c, r) in enumerate(zip(CANDS, REFS)):
        (ci, ce), (ri, re_) = states(c), states(r)
        sim = ce @ re_.T
        keep_c, keep_r = np.array(ci) > 2, np.array(ri) > 2  # ids 0 <s>, 2 </s> weigh 0
        p = sim.max(1)[keep_c].mean()
        rec = sim.max(0)[keep_r].mean()
        f = 2 * p * rec / (p + rec)
        want = (np.array([p, rec, f]) - b) / (1 - b)
        np.testing.assert_allclose([got["precision"][k], got["recall"][k], got["value"][k]], want, atol=TOL)


def test_empty_side_scores_raw_zero_and_batching_does_not_change_scores(tiny_paths):
    s = build_scorer("bertscore", {"bertscore_model": tiny_paths["bertscore_model"], "batch_size": 2})
    one = s.score_parts(["", "No effusion.", "   "], ["No effusion.", "", "x y z"])
    b = np.array(DISTILROBERTA_BASELINE)
    np.testing.assert_allclose(one["value"], [-b[2] / (1 - b[2])] * 3)
    big = BertScore(tiny_paths["bertscore_model"], batch_size=64).score(CANDS, REFS)
    np.testing.assert_allclose(s.score(CANDS, REFS), big, atol=TOL, rtol=0)
    assert s.score(CANDS[:1], CANDS[:1])[0] == pytest.approx(1.0, abs=TOL)


def test_missing_model_dir_names_the_config_field(tmp_path):
    with pytest.raises(ValueError, match="bertscore_model"):
        build_scorer("bertscore", {})
    with pytest.raises(FileNotFoundError, match="BERTScore needs a local"):
        build_scorer("bertscore", {"bertscore_model": str(tmp_path)})
