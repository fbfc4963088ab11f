"""The pure-Python PTB tokenisation equals pycocoevalcap's Java PTBTokenizer."""

import shutil

import pytest

from radrl_dist.metrics.ptb_tokenize import ptb_tokens, tokenize

HAS_JAVA = shutil.which("java") is not None


@pytest.mark.parametrize(
    "text, expected",
    [  # outputs of CoreNLP 3.4.1 (-preserveLines -lowerCase) recorded on this machine
        ("Heart size normal. No pneumothorax, effusion.", "heart size normal no pneumothorax effusion"),
        ("XXXX-year-old male, T-spine and/or L1-L2.", "xxxx-year-old male t-spine and/or l1-l2"),
        ("It cannot be excluded; there's 3.3 cm (approx.)", "it can not be excluded there 's 3.3 cm -lrb- approx -rrb-"),
        ("Has no recent CXR.; see Dr. XXXX at 2:45 p.m.", "has no recent cxr. see dr. xxxx at 2:45 p.m."),
        ("Pt hasn't iv''s \"pain\" +PPD 25%", "pt has n't iv s pain + ppd 25 %"),
        ("1. No acute process. 2., Mild", "1 no acute process 2. mild"),
        ("", ""),
    ],
)
def test_known_outputs(text, expected):
    assert tokenize(text) == expected


def test_never_raises_on_odd_text():
    for t in ["<<>>", "&gt;&amp;", "\u2019s \u00a0 x", "....!!??", "\\T\\", "a/b/c/d-e", "\x00\x01"]:
        toks = ptb_tokens(t)
        assert all(tok for tok in toks)


@pytest.mark.skipif(not HAS_JAVA, reason="java not installed: cannot run the reference tokenizer")
def test_equals_java_tokenizer_on_all_iu_sections(iu_texts):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from radrl_dist.data.iu_xray_reports import load_reports

    texts = sorted({t for r in load_reports() for t in (r.text, r.findings, r.impression, r.indication, r.comparison) if t})
    ref = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
    bad = [(t, ref[i][0], tokenize(t)) for i, t in enumerate(texts) if ref[i][0] != tokenize(t)]
    assert len(texts) > 8000
    assert bad == []
