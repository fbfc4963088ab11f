"""SFT target builders: each target kind says what the study's labels and boxes say."""

import pytest

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import get_codec
from radrl_dist.data.schema import Study
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.rewards.format import format_score
from radrl_dist.sft.targets import REGIONS, build_target, reasoning_from_labels, region_of

LABELS = [0, 1, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0]  # cardiomegaly +, pneumothorax -, effusion +


@pytest.fixture
def study():
    return Study("s1", ["x.png"], "report", "Mild cardiomegaly. Small left pleural effusion. No pneumothorax.",
                 reference_labels=LABELS, boxes=[Box(10, 20, 60, 90, "Pleural Effusion", "left pleural effusion")],
                 image_size=(128, 160))


def test_reasoning_groups_observations_by_class():
    assert reasoning_from_labels(LABELS) == "Positive: cardiomegaly, pleural effusion. Negative: pneumothorax."
    assert reasoning_from_labels([0] * 13 + [1]) == "No abnormality is seen."


def test_think_report_target_passes_the_format_reward(study):
    target = build_target(study, "think_report", "qwen2_vl")
    assert format_score(target, answer_tag="report") == 1.0
    assert target.endswith("<report>Mild cardiomegaly. Small left pleural effusion. No pneumothorax.</report>")


def test_structured_chain_has_one_line_per_sentence_with_category_and_region(study):
    chain = build_target(study, "structured_chain", "qwen2_vl", labeler=build_labeler("rules")).splitlines()
    assert chain == [
        "Finding: Mild cardiomegaly. -> Disease: Cardiomegaly -> Region: cardiac silhouette",
        "Finding: Small left pleural effusion. -> Disease: Pleural Effusion -> Region: left lung",
        "Finding: No pneumothorax. -> Disease: No Finding -> Region: whole lung",
    ]


def test_regions_are_the_papers_twelve():
    assert len(REGIONS) == 12
    assert region_of("Right hilar prominence.") == "right hilar structures"
    assert region_of("Endotracheal tube in place.") == "trachea"


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "radvlm", "gemma3"])
def test_grounding_target_round_trips_through_the_codec(study, family):
    target = build_target(study, "grounding_think", family)
    assert format_score(target, answer_tag="answer") == 1.0
    answer = target.split("<answer>")[1].split("</answer>")[0]
    boxes, ok = get_codec(family).parse(answer, study.image_size)
    assert ok and len(boxes) == 1
    tol = 0.01 * 160 if family == "radvlm" else 0.2  # radvlm keeps 2 decimals of 0..1
    assert all(abs(a - b) <= tol for a, b in zip(boxes[0].as_tuple(), study.boxes[0].as_tuple()))


def test_unknown_kind_is_an_error(study):
    with pytest.raises(ValueError, match="unknown SFT target kind"):
        build_target(study, "summary", "qwen2_vl")


def test_structured_chain_of_a_phrase_grounding_row_uses_its_phrases_and_labels():
    """BoxMed-RL phase I-a trains on MS-CXR + LATTE-CXR rows: phrase + box, no report."""
    row = Study("g", ["x.png"], "grounding", boxes=[Box(1, 2, 3, 4, "Pleural Effusion", "small left pleural effusion"),
                                                   Box(5, 6, 7, 8, None, "right lower lobe opacity")])
    assert build_target(row, "structured_chain", "qwen2_vl", labeler=build_labeler("rules")).splitlines() == [
        "Finding: small left pleural effusion -> Disease: Pleural Effusion -> Region: left lung",
        "Finding: right lower lobe opacity -> Disease: Lung Opacity -> Region: right lung",  # labeler: no box label
    ]


def test_concept_chain_prompt_asks_for_the_chain_and_names_no_box_format():
    from radrl_dist.models.prompts import instruction_for

    row = Study("g", ["x.png"], "grounding", boxes=[Box(1, 2, 3, 4, "Pleural Effusion", "left pleural effusion")])
    text = instruction_for(row, "concept_chain", "qwen2_vl")
    assert "Finding: ... -> Disease: ... -> Region: ..." in text and "box" not in text.lower()
