"""NLG metrics equal pycocoevalcap on real IU X-Ray report text (to 1e-6)."""

import shutil

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from radrl_dist.metrics import meteor as meteor_mod
from radrl_dist.metrics.nlg import bleu, cider_scores, compute_nlg, rouge_l_scores, tokenize_all
HAS_JAVA = shutil.which("java") is not None


def _coco_dicts(cands_tok, refs_tok):
    return {i: list(r) for i, r in enumerate(refs_tok)}, {i: [c] for i, c in enumerate(cands_tok)}


def test_scorers_equal_pycocoevalcap_on_same_tokens(iu_pairs):
    cands, refs = tokenize_all(*iu_pairs)
    gts, res = _coco_dicts(cands, refs)
    b_ref, b_per_ref = Bleu(4).compute_score(gts, res, verbose=0)
    b, b_per = bleu(cands, refs)
    np.testing.assert_allclose(b, b_ref, atol=1e-6)
    np.testing.assert_allclose(b_per, np.array(b_per_ref).T, atol=1e-6)
    r_ref, r_per_ref = Rouge().compute_score(gts, res)
    np.testing.assert_allclose(rouge_l_scores(cands, refs), r_per_ref, atol=1e-6)
    c_ref, c_per_ref = Cider().compute_score(gts, res)
    c_per = cider_scores(cands, refs)
    np.testing.assert_allclose(c_per, c_per_ref, atol=1e-6)
    assert abs(c_per.mean() - c_ref) < 1e-6 and abs(rouge_l_scores(cands, refs).mean() - r_ref) < 1e-6
    assert 0 < b[3] < b[0] < 1


def test_multiple_references_closest_length(iu_texts):
    cands, _ = tokenize_all(iu_texts[:20], iu_texts[20:40])
    refs = [[tokenize_all([""], [x])[1][0][0] for x in iu_texts[20 + i : 23 + i]] for i in range(20)]
    gts, res = _coco_dicts(cands, refs)
    np.testing.assert_allclose(bleu(cands, refs)[0], Bleu(4).compute_score(gts, res, verbose=0)[0], atol=1e-6)
    np.testing.assert_allclose(cider_scores(cands, refs), Cider().compute_score(gts, res)[1], atol=1e-6)
    np.testing.assert_allclose(rouge_l_scores(cands, refs), Rouge().compute_score(gts, res)[1], atol=1e-6)


@pytest.mark.skipif(not HAS_JAVA, reason="java missing: pycocoevalcap's tokenizer and METEOR need it")
def test_full_pipeline_equals_cocoevalcap_with_java(iu_pairs):
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from concurrent.futures import ThreadPoolExecutor

    cands, refs = iu_pairs
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(compute_nlg, cands, refs)  # both METEOR jars start in parallel (they are slow)
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": r}] for i, r in enumerate(refs)})
    res = tok.tokenize({i: [{"caption": c}] for i, c in enumerate(cands)})
    b, _ = Bleu(4).compute_score(gts, res, verbose=0)
    expected = {f"bleu_{k + 1}": b[k] for k in range(4)}
    expected["rouge_l"] = Rouge().compute_score(gts, res)[0]
    expected["cider"] = Cider().compute_score(gts, res)[0]
    m, m_per = Meteor().compute_score(gts, res)
    expected["meteor"] = m
    ours = fut.result()
    pool.shutdown()
    for k, v in expected.items():
        assert ours.corpus[k] == pytest.approx(v, abs=1e-6), k
    np.testing.assert_allclose(ours.per_sample["meteor"], m_per, atol=1e-6)
    assert ours.missing == {}
    assert ours.corpus["meteor"] != pytest.approx(float(np.mean(m_per)), abs=1e-9)  # aggregate, not mean


def test_meteor_without_java_is_missing_not_zero(monkeypatch, iu_pairs):
    monkeypatch.setattr(meteor_mod.shutil, "which", lambda name: None)
    res = compute_nlg(*[x[:5] for x in iu_pairs])
    assert res.corpus["meteor"] is None
    assert "java" in res.missing["meteor"]
    assert res.corpus["bleu_4"] is not None


def test_corpus_bleu_is_not_mean_sentence_bleu(iu_pairs):
    cands, refs = tokenize_all(*iu_pairs)
    corpus, per = bleu(cands, refs)
    assert abs(corpus[3] - per[:, 3].mean()) > 1e-3


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        compute_nlg(["a", "b"], ["a"], with_meteor=False)
