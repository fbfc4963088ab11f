"""Rule labeler: the CheXpert labeler's shipped sample (TEST_VECTORS.md), scopes, precedence, data files."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.constants import CHEXPERT_OBSERVATIONS, NO_FINDING_INDEX, NUM_OBSERVATIONS
from radrl_dist.labelers.base import labels_to_names
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.labelers.rules import RuleLabeler

PHRASES = Path(__file__).resolve().parents[2] / "radrl_dist" / "labelers" / "phrases"


@pytest.fixture(scope="module")
def lab() -> RuleLabeler:
    return RuleLabeler()


def named(lab: RuleLabeler, text: str) -> dict[str, str]:
    return {k: v for k, v in labels_to_names(lab.label([text])[0]).items() if v != "blank"}


# CheXpert convention in TEST_VECTORS: 1 positive, 0 negative, -1 uncertain; unlisted = blank.
SAMPLES = [
    ("Heart size normal and lungs are clear. No edema or pneumonia. No effusion",
     {"No Finding": "positive", "Cardiomegaly": "negative", "Edema": "negative", "Pneumonia": "negative",
      "Pleural Effusion": "negative"}),
    ("Left pleural effusion with adjacent atelectasis. The lungs are otherwise clear. Cardiomegaly without overt edema.",
     {"Cardiomegaly": "positive", "Edema": "negative", "Atelectasis": "positive", "Pleural Effusion": "positive"}),
    ("Minimal patchy airspace disease in the left lung base, which may reflect atelectasis or consolidation.",
     {"Lung Opacity": "positive", "Consolidation": "uncertain", "Atelectasis": "uncertain"}),
    ("Stable mild cardiomegaly. Hyperexpanded but clear lungs.", {"Cardiomegaly": "positive"}),
]


@pytest.mark.parametrize("text,expected", SAMPLES)
def test_chexpert_sample_sentences(lab, text, expected):
    assert named(lab, text) == expected


@pytest.mark.parametrize("text,obs,cls", [
    ("No pneumothorax, but there is a small left effusion.", "Pleural Effusion", "positive"),
    ("No pneumothorax, but there is a small left effusion.", "Pneumothorax", "negative"),
    ("No focal consolidation, pleural effusion, or pneumothorax.", "Pneumothorax", "negative"),
    ("Pneumothorax is not seen.", "Pneumothorax", "negative"),
    ("Pneumonia cannot be excluded.", "Pneumonia", "uncertain"),
    ("Atelectasis versus pneumonia.", "Atelectasis", "uncertain"),
    ("Atelectasis versus pneumonia.", "Pneumonia", "uncertain"),
    ("No atelectasis or pneumonia.", "Pneumonia", "negative"),
    ("No change in the large right pleural effusion.", "Pleural Effusion", "positive"),
    ("Negative for pneumothorax.", "Pneumothorax", "negative"),
    ("Interval resolution of the right pleural effusion.", "Pleural Effusion", "negative"),
    ("The heart is enlarged.", "Cardiomegaly", "positive"),
    ("The heart is not enlarged.", "Cardiomegaly", "negative"),
    ("Heart size is at the upper limits of normal.", "Cardiomegaly", "uncertain"),
    ("Borderline cardiomegaly.", "Cardiomegaly", "uncertain"),
    ("Normal heart size and mediastinal contours.", "Enlarged Cardiomediastinum", "negative"),
    ("The mediastinum is widened.", "Enlarged Cardiomediastinum", "positive"),
    ("Small right hydropneumothorax.", "Pleural Effusion", "positive"),
    ("Old healed left rib fractures.", "Fracture", "positive"),
    ("Right IJ central venous catheter tip in the SVC.", "Support Devices", "positive"),
])
def test_scopes_and_cues(lab, text, obs, cls):
    assert named(lab, text).get(obs, "blank") == cls


# The weakest observations on IU X-Ray (issue 17, item 8), one sentence per fix, from even-id reports.
@pytest.mark.parametrize("text,expected", [
    # a leading "borderline" hedges its own subject, not the rest of the clause
    ("Borderline heart size, improved mediastinal widening.",
     {"Cardiomegaly": "uncertain", "Enlarged Cardiomediastinum": "positive"}),
    ("Stable enlarged cardiomediastinal silhouette.",
     {"Cardiomegaly": "positive", "Enlarged Cardiomediastinum": "positive"}),
    ("The cardiomediastinal silhouette is normal in size.",
     {"Cardiomegaly": "negative", "Enlarged Cardiomediastinum": "negative"}),
    ("Mild prominence of the mediastinum.", {"Enlarged Cardiomediastinum": "positive"}),
    ("Widened upper mediastinal silhouette.", {"Enlarged Cardiomediastinum": "positive"}),
    ("Stable right paratracheal prominence.", {"Enlarged Cardiomediastinum": "positive"}),
    # "large" describes the hernia, not the mediastinum 40 characters before it
    ("Air-fluid level in the middle mediastinum, most likely secondary to a large hiatal hernia.",
     {"Enlarged Cardiomediastinum": "blank"}),
    ("Cardiomediastinal silhouette accentuated by technical factors.", {"Enlarged Cardiomediastinum": "uncertain"}),
    ("There is minimal fibronodular scarring right apex.", {"Lung Lesion": "positive", "Lung Opacity": "positive"}),
    ("Stable cavity in the right apex.", {"Lung Lesion": "positive"}),
    ("Large masslike opacity in the right lung base.", {"Lung Lesion": "positive", "Lung Opacity": "positive"}),
    ("Round opacity measuring 2 cm in the right hilum.", {"Lung Lesion": "positive"}),
    ("Bony overlap could obscure a small pulmonary nodule.", {"Lung Lesion": "uncertain"}),
    ("Elevated right hemidiaphragm, with a nodular soft tissue contour.", {"Lung Lesion": "blank"}),
    ("Focal opacity in the right midlung worrisome for pneumonitis.", {"Pneumonia": "uncertain"}),
    ("Recommend clinical correlation for infection.", {"Pneumonia": "uncertain"}),
    ("It would be difficult to completely exclude a superimposed pneumonia.", {"Pneumonia": "uncertain"}),
    ("Right upper lobe cavity, consistent with prior tuberculous infection.", {"Pneumonia": "blank"}),
    # CheXpert hedges "may be compatible with", not a bare "compatible with"
    ("Lucency compatible with large pneumothorax and collapse of the left lung.",
     {"Pneumothorax": "positive", "Atelectasis": "positive"}),
    ("Opacity may be compatible with pneumonia.", {"Pneumonia": "uncertain"}),
    # "or" hedges the conjunct before it, not the finding it explains
    ("Bandlike left base opacities XXXX scarring or atelectasis.",
     {"Lung Opacity": "positive", "Atelectasis": "uncertain"}),
    ("Interlobar fissural thickening.", {"Pleural Other": "positive"}),
    ("Left chest XXXX with tip projecting over the lower SVC.", {"Support Devices": "positive"}),
    ("Overlying external cardiac monitor leads.", {"Support Devices": "positive"}),
])
def test_iu_xray_weak_observation_fixes(lab, text, expected):
    got = named(lab, text)
    assert {obs: got.get(obs, "blank") for obs in expected} == expected


# Model output can be anything: long runs of the characters phrases skip over, phrase words repeated
# thousands of times. Correctness here; the time bound lives in bench/labeler_iu_xray.py --hostile-mb.
_JUNK = ("- " * 3000 + "-" * 9000 + " " + "venous " * 800 + "pleural-" * 800 + "no " * 500 + "a" * 9000
         + " versus or , ; : " * 300 + "XXXX " * 500)


def test_hostile_megabyte_output_keeps_the_report_labels(lab):
    report = "Large right pleural effusion. No pneumothorax. Heart size is normal."
    hostile = report + " " + (_JUNK * (1_000_000 // len(_JUNK) + 1))[:1_000_000]
    assert len(hostile) > 1_000_000
    assert named(lab, hostile) == named(lab, report) == {
        "Pleural Effusion": "positive", "Pneumothorax": "negative", "Cardiomegaly": "negative"}


def test_hostile_prefix_then_finding_inside_the_window(lab):
    # a finding behind 15,000 characters of junk is still read; past the 20,000-character window it is not
    assert named(lab, "-" * 15000 + " Small left pleural effusion.") == {"Pleural Effusion": "positive"}
    assert named(lab, "-" * 25000 + " Small left pleural effusion.") == {"No Finding": "positive"}
    row = lab.label([_JUNK * 40])[0]
    assert set(row.tolist()) <= {0, 1, 2, 3}


def test_unbounded_group_repetition_is_rejected(tmp_path):
    for f in PHRASES.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    m = tmp_path / "mentions.yaml"
    m.write_text(m.read_text().replace("  Pneumothorax:\n", "  Pneumothorax:\n    - '(?:left |right )+pneumo'\n"))
    with pytest.raises(ValueError, match="without bound"):
        RuleLabeler(tmp_path)
    m.write_text(m.read_text().replace("(?:left |right )+pneumo", "(?:left |right ){1,2}pneumo"))
    assert named(RuleLabeler(tmp_path), "Left pneumo.")["Pneumothorax"] == "positive"


def test_ignore_phrase_is_not_a_mention(lab):
    assert "Pleural Effusion" not in named(lab, "Small pericardial effusion.")


def test_precedence_positive_beats_uncertain_beats_negative(lab):
    assert named(lab, "No effusion on the left. Small right effusion.")["Pleural Effusion"] == "positive"
    assert named(lab, "No pneumonia. Possible pneumonia at the base.")["Pneumonia"] == "uncertain"


def test_no_finding_rule(lab):
    assert named(lab, "Pacemaker in place. Lungs are clear.") == {"Support Devices": "positive", "No Finding": "positive"}
    assert "No Finding" not in named(lab, "Possible small effusion.")
    assert not lab.label([""]).any() and not lab.label(["   \n "]).any()  # empty text: all blank


def test_batch_shape_dtype_determinism_and_junk(lab):
    texts = [s for s, _ in SAMPLES] + [None, 123, "\x00\ufffd" * 50]  # type: ignore[list-item]
    a, b = lab.label(texts), lab.label(list(reversed(texts)))[::-1]
    assert a.dtype == np.int8 and a.shape == (len(texts), NUM_OBSERVATIONS)
    np.testing.assert_array_equal(a, b)
    assert not a[4].any() and not a[5].any()


def test_pickle_and_factory(lab):
    clone = pickle.loads(pickle.dumps(lab))
    assert clone.version == lab.version and clone.name == "rules"
    np.testing.assert_array_equal(clone.label([SAMPLES[1][0]]), lab.label([SAMPLES[1][0]]))
    assert build_labeler("rules").version == lab.version
    with pytest.raises(ValueError, match="unknown labeler spec"):
        build_labeler("magic")
    with pytest.raises(ValueError, match="checkpoint path"):
        build_labeler("chexbert")


def test_phrase_files_are_extendable(tmp_path, lab):
    for f in PHRASES.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    text = "Small bleb at the apex."
    assert named(lab, text) == {"No Finding": "positive"}
    mentions = tmp_path / "mentions.yaml"
    mentions.write_text(mentions.read_text().replace("  Pneumothorax:\n", "  Pneumothorax:\n    - 'blebs?'\n"))
    custom = build_labeler(f"rules:{tmp_path}")
    assert custom.version != lab.version
    assert named(custom, text) == {"Pneumothorax": "positive"}


def test_bad_phrase_files_name_the_problem(tmp_path):
    for f in PHRASES.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    m = tmp_path / "mentions.yaml"
    m.write_text(m.read_text().replace("  Pneumothorax:\n", "  Pneumothoraks:\n"))
    with pytest.raises(ValueError, match="Pneumothoraks"):
        RuleLabeler(tmp_path)
    c = tmp_path / "cues.yaml"
    m.write_text((PHRASES / "mentions.yaml").read_text())
    c.write_text(c.read_text().replace('  - "no"', "  - no"))
    with pytest.raises(ValueError, match="quote YAML"):
        RuleLabeler(tmp_path)
    with pytest.raises(FileNotFoundError, match="mentions.yaml"):
        RuleLabeler(tmp_path / "nowhere")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_valid_labels(text):
    row = _LAB.label([text])[0]
    assert row.shape == (NUM_OBSERVATIONS,) and set(row.tolist()) <= {0, 1, 2, 3}
    assert row[NO_FINDING_INDEX] in (0, 1)


_LAB = RuleLabeler()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(
    ["no", "not", "possible", "pneumonia", "effusion", "heart", "enlarged", "normal", "versus", "or", ",", ".",
     "cannot be excluded", "is not seen", "but", "which", "cardiomegaly", "size", "mediastinum", "XXXX", ";"]),
    max_size=40))
def test_word_soup_never_breaks(words):
    row = _LAB.label([" ".join(words)])[0]
    assert set(row.tolist()) <= {0, 1, 2, 3} and len(CHEXPERT_OBSERVATIONS) == row.shape[0]
