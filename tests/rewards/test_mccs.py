"""MCCS / CCS (MRG-R1 eq. 3-6) and report-level CE-F1, against TEST_VECTORS.md and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radrl_dist.constants import NUM_OBSERVATIONS, OBSERVATION_INDEX
from radrl_dist.rewards.mccs import ccs, ce_f1, mccs, signed_vectors

P, N, U = 1, 2, 3


def row(**obs: int) -> np.ndarray:
    r = np.zeros(NUM_OBSERVATIONS, dtype=np.int8)
    for name, c in obs.items():
        r[OBSERVATION_INDEX[name.replace("_", " ")]] = c
    return r


# labels of the CheXpert sample reports 1-4 (TEST_VECTORS.md)
R1 = row(No_Finding=P, Cardiomegaly=N, Edema=N, Pneumonia=N, Pleural_Effusion=N)
R2 = row(Cardiomegaly=P, Edema=N, Atelectasis=P, Pleural_Effusion=P)
R3 = row(Lung_Opacity=P, Consolidation=U, Atelectasis=U)
R4 = row(Cardiomegaly=P)
BLANK = np.zeros(NUM_OBSERVATIONS, dtype=np.int8)


def one(fn, a, b, **kw) -> float:
    return float(fn(a[None], b[None], **kw)[0])


def test_signed_vectors_eq3_4():
    z = signed_vectors(np.stack([R2, R3, R1]))
    assert z.shape == (3, 13)
    assert z[0].tolist().count(1.0) == 3 and z[0].tolist().count(-1.0) == 1
    assert z[1].sum() == 3.0  # uncertain -> +1
    assert z[2].sum() == -4.0  # No Finding dropped


def test_test_vectors():
    assert one(ccs, R4, R2) == pytest.approx(0.5, abs=1e-7)
    assert one(mccs, R4, R2, margin=0.0) == pytest.approx(0.5, abs=1e-7)
    assert one(mccs, R4, R2, margin=0.3) == pytest.approx(0.2857, abs=1e-4)
    assert one(mccs, R4, R2, margin=0.5) == 0.0  # exactly at the margin boundary
    assert one(ccs, R1, R2) == pytest.approx(-0.25, abs=1e-7)
    assert one(mccs, R1, R2) == 0.0
    assert one(ccs, R2, R3) == pytest.approx(0.2887, abs=1e-4)
    for r in (R1, R2, R3, R4):
        assert one(mccs, r, r) == pytest.approx(1.0, abs=1e-7)


def test_polarity_flip_and_scaling():
    assert one(ccs, R2, np.where(R2 == P, N, np.where(R2 == N, P, R2))) == pytest.approx(-1.0, abs=1e-7)
    assert one(mccs, R2, np.where(R2 == P, N, np.where(R2 == N, P, R2)), margin=-0.5) == 0.0
    # uncertain counts like positive: same signed vector, MCCS 1
    assert one(mccs, row(Edema=U), row(Edema=P)) == pytest.approx(1.0, abs=1e-7)
    # negative margin: (ccs - m) / (1 - m) with m = -0.5 and ccs = -0.25 -> 0.25 / 1.5
    assert one(mccs, R1, R2, margin=-0.5) == pytest.approx(0.25 / 1.5, abs=1e-7)


def test_all_blank_and_both_blank_option():
    assert one(ccs, BLANK, R2) == 0.0 and one(mccs, R2, BLANK) == 0.0
    assert one(mccs, BLANK, BLANK) == 0.0  # the paper's value
    assert one(mccs, BLANK, BLANK, both_blank=1.0) == 1.0
    assert one(ccs, R1 * 0 + row(No_Finding=P), BLANK, both_blank=0.7) == 0.7  # No Finding is excluded
    assert one(mccs, BLANK, R2, both_blank=1.0) == 0.0


def test_broadcast_one_reference_and_errors():
    out = mccs(np.stack([R2, R4, BLANK]), R2)
    assert out.shape == (3,) and out[0] == pytest.approx(1.0, abs=1e-7)
    with pytest.raises(ValueError, match="margin"):
        mccs(R2[None], R2[None], margin=1.0)
    with pytest.raises(ValueError, match="candidate labels"):
        mccs(np.zeros((2, 13), dtype=np.int8), R2)
    with pytest.raises(ValueError, match="0..3"):
        ccs(np.full((1, 14), 5), R2)
    with pytest.raises(ValueError, match="differ"):
        ccs(np.stack([R2, R2]), np.stack([R2, R2, R2]))


def test_ce_f1_samples_vector():
    # f1chexbert's own test: example-based (samples) F1 0.4 over 14
    refs = np.stack([row(No_Finding=P), row(Cardiomegaly=P), row(Cardiomegaly=P), row(Consolidation=P),
                     row(Lung_Opacity=P, Lung_Lesion=P)])
    hyps = np.stack([row(No_Finding=P), row(No_Finding=P), row(Edema=P, Atelectasis=P), row(Consolidation=P), BLANK])
    f = ce_f1(hyps, refs)
    np.testing.assert_allclose(f, [1, 0, 0, 1, 0])
    assert f.mean() == pytest.approx(0.4)


def test_ce_f1_conventions():
    a, b = row(Edema=U, Cardiomegaly=P), row(Edema=P, Cardiomegaly=P, Atelectasis=P)
    assert one(ce_f1, a, b) == pytest.approx(2 * 2 / (2 + 3))  # uncertain -> positive
    assert one(ce_f1, a, b, uncertain_positive=False) == pytest.approx(2 * 1 / (1 + 3))
    assert one(ce_f1, BLANK, BLANK) == 0.0 and one(ce_f1, BLANK, BLANK, both_empty=1.0) == 1.0
    assert one(ce_f1, row(No_Finding=P), row(No_Finding=P), include_no_finding=False) == 0.0


labels = arrays(np.int8, (4, NUM_OBSERVATIONS), elements=st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(labels, labels, st.floats(-0.99, 0.99), st.one_of(st.none(), st.floats(0, 1)))
def test_ranges_never_nan(a, b, m, bb):
    c = ccs(a, b, both_blank=bb)
    r = mccs(a, b, margin=m, both_blank=bb)
    f = ce_f1(a, b)
    for x, lo in ((c, -1.0), (r, 0.0), (f, 0.0)):
        assert not np.isnan(x).any() and (x >= lo - 1e-12).all() and (x <= 1 + 1e-12).all()
    np.testing.assert_allclose(ccs(a, b), ccs(b, a))  # symmetric


def test_negative_margin_by_hand():
    """MRG-R1 allows m in (-1, 1): (ccs - m) / (1 - m) at m = -0.5, computed by hand."""
    assert one(mccs, R4, R2, margin=-0.5) == pytest.approx((0.5 + 0.5) / 1.5, abs=1e-7)  # 0.6667
    assert one(mccs, R1, R2, margin=-0.5) == pytest.approx((-0.25 + 0.5) / 1.5, abs=1e-7)  # 0.1667: m < 0 rewards it
    assert one(mccs, R2, R3, margin=-0.5) == pytest.approx((1 / (2 * 3 ** 0.5) + 0.5) / 1.5, abs=1e-7)  # 0.5258
    with pytest.raises(ValueError, match=r"\(-1, 1\)"):
        mccs(R4[None], R2[None], margin=-1.0)
