"""Format rewards (partial-credit table in rewards/format.py) and the answer extractor."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.rewards.format import extract_answer, format_reward, format_score

CASES = [
    ("<think>reason</think><report>Small effusion.</report>", 1.0),
    ("  <think>reason</think>\n\n<report>Small effusion.</report>\n", 1.0),
    ("Sure! <think>reason</think><report>Small effusion.</report>", 0.75),
    ("<think>reason</think>between<report>x</report>", 0.75),
    ("<think></think><report>x</report>", 0.5),  # empty think
    ("<think>a</think><think>b</think><report>x</report>", 0.5),  # repeated think
    ("<think>a<report>x</report>", 0.5),  # unbalanced think
    ("<report>x</report><think>a</think>", 0.5),  # wrong order
    ("<think>a <report>x</report></think>", 0.5),  # answer nested in think
    ("<report>x</report>", 0.25),  # no think at all
    ("<think>a</think><report> </report>", 0.0),  # empty answer
    ("<think>a</think><report>x", 0.0),  # unbalanced answer
    ("<think>a</think></report>x<report>", 0.0),  # closed before opened
    ("<think>a</think><report>x</report><report>y</report>", 0.0),  # repeated answer
    ("", 0.0),
    ("just a report", 0.0),
]


@pytest.mark.parametrize("text,score", CASES)
def test_partial_credit_table(text, score):
    assert format_score(text, "report") == score
    assert format_score(text, "report", partial_credit=False) == (1.0 if score == 1.0 else 0.0)


def test_answer_tag_and_vector():
    t = "<think>box</think><answer>[0.1, 0.2, 0.3, 0.4]</answer>"
    assert format_score(t, "answer") == 1.0 and format_score(t, "report") == 0.0
    assert format_reward([t, "", None], "answer").tolist() == [1.0, 0.0, 0.0]  # type: ignore[list-item]


def test_extractor():
    assert extract_answer("<think>r</think><report> Cardiomegaly. </report>") == ("Cardiomegaly.", True)
    assert extract_answer("<think>no edema</think> Cardiomegaly.") == ("Cardiomegaly.", False)
    assert extract_answer("<think>no edema</think> Cardiomegaly.", on_missing="zero") == ("", False)
    assert extract_answer("<think>no edema, still thinking") == ("", False)
    assert extract_answer("<think>t</think><report>Effusion. (cut off") == ("Effusion. (cut off", False)
    assert extract_answer("plain report text") == ("plain report text", False)
    assert extract_answer(None) == ("", False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_missing"):
        extract_answer("x", on_missing="drop")


TAGGY = st.lists(st.sampled_from(["<think>", "</think>", "<report>", "</report>", "<answer>", "</answer>", "a", " ", "\n"]),
                 max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), TAGGY))
def test_never_raises_and_in_range(text):
    for tag in ("report", "answer"):
        s = format_score(text, tag)
        assert s in (0.0, 0.25, 0.5, 0.75, 1.0)
        content, ok = extract_answer(text, tag)
        assert isinstance(content, str) and isinstance(ok, bool)
        assert ok == (extract_answer(text, tag, on_missing="zero")[1])
        if ok:
            assert s > 0.0
