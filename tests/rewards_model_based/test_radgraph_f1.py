"""RadGraph F1 on hand-written graphs (the radgraph package's three levels) and RadCliQ's combined
F1; the package extractor fails with a message naming what is missing."""

import pytest

from radrl_dist.rewards.model_based.radgraph import RadGraphF1, radcliq_combined, radgraph_f1
from radrl_dist.rewards.model_based.radgraph_extract import LexiconExtractor, build_extractor


def ent(tokens, label, *rels):
    return {"tokens": tokens, "label": label, "relations": [list(r) for r in rels]}


# reference: "small left pleural effusion"; hypothesis: "left pleural effusion", no 'small', and
# 'effusion' located_at 'pleural' in both, 'left' modifies 'pleural' only in the reference.
REF = {"entities": {"1": ent("small", "OBS-DP", ("modify", "4")), "2": ent("left", "ANAT-DP", ("modify", "3")),
                    "3": ent("pleural", "ANAT-DP"), "4": ent("effusion", "OBS-DP", ("located_at", "3"))}}
HYP = {"entities": {"1": ent("left", "ANAT-DP"), "2": ent("pleural", "ANAT-DP"),
                    "3": ent("effusion", "OBS-DP", ("located_at", "2"))}}


def test_simple_level_is_entity_f1():
    # hyp {left, pleural, effusion} all in ref's 4 -> P 1, R 3/4, F1 6/7
    assert radgraph_f1(HYP, REF, "simple") == pytest.approx((6 / 7, 1.0, 0.75))


def test_partial_level_marks_entities_with_relations():
    # hyp items: (left,A), (pleural,A), (effusion,O,True); ref: (small,O,True), (left,A,True),
    # (pleural,A), (effusion,O,True) -> matches: pleural, effusion -> P 2/3, R 2/4
    f1, p, r = radgraph_f1(HYP, REF, "partial")
    assert (p, r) == pytest.approx((2 / 3, 0.5))
    assert f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_complete_level_matches_relations_by_tokens():
    # hyp: (left,A), (pleural,A), (effusion,O,located_at,pleural); ref: (small,O,modify,effusion),
    # (left,A,modify,pleural), (pleural,A), (effusion,O,located_at,pleural) -> matches 2 of 3 / 2 of 4
    assert radgraph_f1(HYP, REF, "complete") == pytest.approx(radgraph_f1(HYP, REF, "partial"))
    assert radgraph_f1(REF, REF, "complete") == (1.0, 1.0, 1.0)


def test_no_entities_on_either_side_scores_zero_and_bad_level_raises():
    assert radgraph_f1({"entities": {}}, REF, "simple") == (0.0, 0.0, 0.0)
    assert radgraph_f1(HYP, {"entities": {}}, "complete") == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="simple"):
        radgraph_f1(HYP, REF, "full")


def test_radcliq_combined_is_mean_of_entity_and_relation_f1():
    # entities: 6/7 (as simple); relations hyp {effusion->pleural located_at}, ref 3 relations -> P 1, R 1/3, F1 1/2
    assert radcliq_combined(HYP, REF) == pytest.approx((6 / 7 + 0.5) / 2)
    assert radcliq_combined({"entities": {}}, {"entities": {}}) == 0.0


def test_scorer_uses_the_extractor_once_per_distinct_text():
    calls = []

    class Counting(LexiconExtractor):
        def extract(self, texts):
            calls.append(list(texts))
            return super().extract(texts)

    s = RadGraphF1(Counting(), level="simple")
    ref = "Small left pleural effusion."
    parts = s.score_parts(["Left pleural effusion.", "", ref], [ref, ref, ref])
    assert calls == [["Left pleural effusion.", ref]]
    assert parts["value"][1] == 0.0 and parts["value"][2] == 1.0
    assert set(parts) == {"value", "precision", "recall", "radcliq"}


def test_package_extractor_names_what_is_missing(tmp_path):
    ex = build_extractor(f"radgraph:{tmp_path / 'nowhere'}")
    with pytest.raises((ImportError, FileNotFoundError), match="radgraph"):
        ex.extract(["No effusion."])
    with pytest.raises(ValueError, match="lexicon"):
        build_extractor("spacy")
