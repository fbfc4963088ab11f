"""Per-candidate NLG rewards: agree with the metric core, stay in range, never NaN."""

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.rouge.rouge import Rouge

from radrl_dist.metrics.nlg import DocFreq, cider_scores, tokenize_all
from radrl_dist.rewards.nlg import NLG_REWARDS, bleu4, cider_d, gleu, make_cider_d, rouge_l


def test_bleu4_and_rouge_equal_pycocoevalcap_per_image(iu_pairs):
    cands, refs = iu_pairs
    ct, rt = tokenize_all(cands, refs)
    gts, res = {i: r for i, r in enumerate(rt)}, {i: [c] for i, c in enumerate(ct)}
    np.testing.assert_allclose(bleu4(cands, refs), Bleu(4).compute_score(gts, res, verbose=0)[1][3], atol=1e-6)
    np.testing.assert_allclose(rouge_l(cands, refs), Rouge().compute_score(gts, res)[1], atol=1e-6)


def test_group_sharing_one_reference_still_ranks_candidates(iu_texts):
    ref = iu_texts[10]
    group = [ref, ref.split(".")[0], iu_texts[11], "", "..."]
    refs = [ref] * len(group)
    for name, fn in NLG_REWARDS.items():
        r = fn(group, refs)
        assert r.shape == (5,) and r.dtype == np.float64 and np.isfinite(r).all(), name
        assert r[0] > r[2] > -1 and r[3] == 0 and r[4] == 0, (name, r)
        assert r.max() <= (10.0 if name == "cider_d" else 1.0)
    # batch-idf CIDEr collapses here (every idf log(5)-log(5)=0): why cider_d uses a fixed corpus
    ct, rt = tokenize_all(group, refs)
    assert np.all(cider_scores(ct, rt) == 0)
    assert cider_d(group, refs)[0] > 1.0


def test_make_cider_d_uses_given_corpus(iu_texts):
    fn = make_cider_d(iu_texts[:200])
    ct, rt = tokenize_all(iu_texts[300:305], iu_texts[300:305])
    df = DocFreq.from_corpus([tokenize_all([t], [t])[1][0][0] for t in iu_texts[:200]])
    np.testing.assert_allclose(fn(iu_texts[300:305], iu_texts[300:305]), cider_scores(ct, rt, df), atol=1e-12)


def test_gleu_by_hand():
    # "a b c" vs "a b d": 1-grams 2 match, 2-grams 1, 3-grams 0 -> 3 matches / max(6, 6)
    assert gleu(["a b c"], ["a b d"])[0] == 0.5
    assert gleu(["a b"], ["a b c d"])[0] == 3 / 10  # precision 1, recall 3/10
    assert bleu4([None], ["x"])[0] == 0.0  # non-string model output scores 0
