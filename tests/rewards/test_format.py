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


# ---------------------------------------------------------------- linear-time parsers (issue 18, item 8)
# The oracle: extract_answer as it was before the parsers were made linear (its regex rescans the rest
# of the text for every unclosed <think>, quadratic), kept here only to pin the new one on short inputs.
def _old_extract_answer(text, tag="report", on_missing="raw", think_tag="think"):
    import re

    from radrl_dist.labelers.base import as_text

    text = as_text(text)
    op, cl = f"<{tag}>", f"</{tag}>"
    n_open, n_close = text.count(op), text.count(cl)
    if n_open == 1 and n_close == 1:
        s, e = text.index(op), text.index(cl)
        if e > s and text[s + len(op) : e].strip():
            return text[s + len(op) : e].strip(), True
    if on_missing == "zero":
        return "", False
    top, tcl = f"<{think_tag}>", f"</{think_tag}>"
    raw = re.sub(re.escape(top) + r".*?" + re.escape(tcl), " ", text, flags=re.S)
    if op in raw:
        raw = raw[raw.rindex(op) + len(op) :]
    if top in raw:
        raw = raw[: raw.index(top)]
    for t in (op, cl, top, tcl):
        raw = raw.replace(t, " ")
    return " ".join(raw.split()), False


PIECES = ["<think>", "</think>", "<report>", "</report>", "<answer>", "</answer>", "<think", "think>", "</",
          "<", ">", "a", "Effusion.", " ", "\n", "\u2028", "<<think>>"]
ADVERSARIAL = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ADVERSARIAL, st.text(alphabet="<>/thinkrepo \n", max_size=80)))
def test_linear_extractor_equals_old_regex_extractor(text):
    for tag in ("report", "answer"):
        for mode in ("raw", "zero"):
            assert extract_answer(text, tag, mode) == _old_extract_answer(text, tag, mode)
    assert extract_answer(text, "answer", think_tag="report") == _old_extract_answer(text, "answer", think_tag="report")


def _adversarial(n: int) -> dict[str, str]:
    """Outputs a hostile or broken policy can write, each about n characters."""
    k = n // 7
    return {"unclosed_think": "<think>" * k, "unclosed_think_after_text": "Effusion. " + "<think>" * k,
            "closes_first": "</think>" * (k // 2) + "<think>" * (k // 2),
            "open_answers": "<report>" * k + "x", "nested": "<think>" * (k // 2) + "</think>" * (k // 2),
            "alternating": "<think>a</think>" * (k // 3) + "<report>x", "partial_tags": "<think" * k + ">",
            "text_then_unclosed": ("Small effusion. " * (k // 4)) + "<think>" * (k // 2)}


@pytest.mark.parametrize("name,text", sorted(_adversarial(3000).items()))
def test_adversarial_outputs_parse_like_the_old_extractor(name, text):
    for mode in ("raw", "zero"):
        assert extract_answer(text, "report", mode) == _old_extract_answer(text, "report", mode)
    assert format_score(text, "report") in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_megabyte_adversarial_outputs_parse_without_error():
    """1 MB versions (the old extractor needed minutes on some): right answers, no exception.
    The time bound is measured by bench/parsers.py, not asserted here."""
    big = _adversarial(1 << 20)
    assert extract_answer(big["unclosed_think"]) == ("", False)
    assert extract_answer(big["unclosed_think_after_text"]) == ("Effusion.", False)
    assert extract_answer(big["nested"]) == ("", False)
    assert extract_answer(big["open_answers"]) == ("x", False)
    assert extract_answer(big["alternating"]) == ("x", False)
    assert extract_answer(big["text_then_unclosed"])[0].startswith("Small effusion. Small")
    for text in big.values():
        assert format_score(text, "report") in (0.0, 0.5) and format_score(text, "report", partial_credit=False) == 0.0
