"""CE metrics: f1chexbert's worked case (TEST_VECTORS) and equality with scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from radrl_dist.constants import BLANK, NEGATIVE, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.metrics.clinical import TOP5_INDEX, binarize, ce_metrics, per_observation


def _mat(rows: list[list[str]]) -> np.ndarray:
    m = np.zeros((len(rows), 14), dtype=np.int8)
    for i, names in enumerate(rows):
        for n in names:
            m[i, OBSERVATION_INDEX[n]] = POSITIVE
    return m


def test_f1chexbert_worked_case():
    refs = _mat([["No Finding"], ["Cardiomegaly"], ["Cardiomegaly"], ["Consolidation"], ["Lung Opacity", "Lung Lesion"]])
    hyps = _mat([["No Finding"], ["No Finding"], ["Edema", "Atelectasis"], ["Consolidation"], []])
    m = ce_metrics(hyps, refs, "f1chexbert")
    assert m["micro_precision_14"] == pytest.approx(0.4)
    assert m["micro_recall_14"] == pytest.approx(0.3333, abs=1e-4)
    assert m["micro_f1_14"] == pytest.approx(0.3636, abs=1e-4)
    assert m["macro_f1_14"] == pytest.approx(0.11905, abs=1e-5)
    assert m["samples_f1_14"] == pytest.approx(0.4)
    assert m["subset_accuracy_5"] == pytest.approx(0.6)
    yt, yp = binarize(refs, "f1chexbert")[:, TOP5_INDEX], binarize(hyps, "f1chexbert")[:, TOP5_INDEX]
    assert (yt == yp).all(1).astype(int).tolist() == [1, 0, 0, 1, 1]
    assert m["micro_f1_5"] == pytest.approx(0.3333, abs=1e-4)
    assert m["macro_f1_5"] == pytest.approx(0.2)
    assert ce_metrics(hyps, refs, "example")["f1_14"] == pytest.approx(0.4)


def test_uncertain_counts_only_under_f1chexbert():
    ref = np.zeros((1, 14), np.int8)
    cand = ref.copy()
    ref[0, 1], cand[0, 1] = UNCERTAIN, UNCERTAIN
    assert ce_metrics(cand, ref, "f1chexbert")["micro_f1_14"] == 1.0
    assert ce_metrics(cand, ref, "r2gen")["micro_f1_14"] == 0.0  # nothing positive: undefined -> 0


@pytest.mark.parametrize("convention", ["r2gen", "f1chexbert", "example"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_sklearn(convention, seed):
    rng = np.random.default_rng(seed)
    p = [0.5, 0.2, 0.2, 0.1]
    ref = rng.choice([BLANK, POSITIVE, NEGATIVE, UNCERTAIN], size=(60, 14), p=p).astype(np.int8)
    cand = np.where(rng.random((60, 14)) < 0.6, ref, rng.choice(4, size=(60, 14), p=p)).astype(np.int8)
    ref[:, 10] = BLANK  # a label with no support
    m = ce_metrics(cand, ref, convention)
    for suffix, cols in (("14", list(range(14))), ("5", TOP5_INDEX)):
        yt, yp = binarize(ref, convention)[:, cols], binarize(cand, convention)[:, cols]
        for avg in ("micro", "macro", "samples", "weighted"):
            sk = precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
            if convention == "example":
                if avg == "samples":
                    assert [m[f"precision_{suffix}"], m[f"recall_{suffix}"], m[f"f1_{suffix}"]] == pytest.approx(sk[:3])
            elif convention == "r2gen":
                if avg in ("micro", "macro"):
                    got = [m[f"{avg}_{k}_{suffix}"] for k in ("precision", "recall", "f1")]
                    assert got == pytest.approx(sk[:3], abs=1e-12)
            else:
                got = [m[f"{avg}_{k}_{suffix}"] for k in ("precision", "recall", "f1")]
                assert got == pytest.approx(sk[:3], abs=1e-12)
        if convention == "f1chexbert":
            assert m[f"subset_accuracy_{suffix}"] == pytest.approx(accuracy_score(yt, yp))


def test_per_observation_matches_sklearn_per_label():
    rng = np.random.default_rng(5)
    ref = rng.choice(4, size=(40, 14)).astype(np.int8)
    cand = rng.choice(4, size=(40, 14)).astype(np.int8)
    rows = per_observation(cand, ref, "r2gen")
    p, r, f, s = precision_recall_fscore_support(binarize(ref, "r2gen"), binarize(cand, "r2gen"), zero_division=0)
    assert [x["f1"] for x in rows] == pytest.approx(f.tolist())
    assert [x["support"] for x in rows] == s.tolist()
    assert rows[0]["observation"] == "Enlarged Cardiomediastinum"


def test_bad_input_names_the_matrix():
    with pytest.raises(ValueError, match="candidate labels: expected shape"):
        ce_metrics(np.zeros((2, 13)), np.zeros((2, 14)), "r2gen")
    with pytest.raises(ValueError, match="reference labels: class ids"):
        ce_metrics(np.zeros((2, 14)), np.full((2, 14), 7), "r2gen")
    with pytest.raises(ValueError, match="unknown CE convention"):
        ce_metrics(np.zeros((2, 14)), np.zeros((2, 14)), "chexpert")
