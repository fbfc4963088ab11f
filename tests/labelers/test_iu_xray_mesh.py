"""Rule labeler vs IU X-Ray's MeSH codes: the oracle's mapping, its scoring, and the F1 floor per
observation on the EVEN (tuning) half, so a phrase edit that breaks an observation fails here.
The odd half is never read by tests (it is measured once, by hand, with bench/labeler_iu_xray.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.labeler_iu_xray import ABSENT, HEDGED, PRESENT, UNDETERMINED, mesh_truth, score, split_reports, truth_matrix
from radrl_dist.constants import CHEXPERT_OBSERVATIONS, NUM_OBSERVATIONS, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.labelers.rules import RuleLabeler

# F1 floors on the even half, about 0.02 under what the labeler scored when they were pinned
# (see README, rule labeler); positive calls only, hedged/undetermined cells left out.
EVEN_F1_FLOOR = {
    "Enlarged Cardiomediastinum": 0.94, "Cardiomegaly": 0.96, "Lung Opacity": 0.92, "Lung Lesion": 0.91,
    "Edema": 0.81, "Consolidation": 0.91, "Pneumonia": 0.83, "Atelectasis": 0.81, "Pneumothorax": 0.85,
    "Pleural Effusion": 0.88, "Pleural Other": 0.88, "Fracture": 0.87, "Support Devices": 0.86, "No Finding": 0.93,
}
EVEN_MACRO_FLOOR = 0.89


@pytest.mark.parametrize("terms,expected", [
    (("normal",), {"No Finding": PRESENT}),
    # MeSH's own hedge: CheXpert calls borderline cardiomegaly uncertain
    (("Cardiomegaly/borderline",), {"Cardiomegaly": HEDGED}),
    (("Cardiac Shadow/enlarged/borderline", "Cardiomegaly/mild"), {"Cardiomegaly": PRESENT,
                                                                    "Enlarged Cardiomediastinum": UNDETERMINED}),
    # the coders file the cardiomediastinal silhouette under Cardiac Shadow
    (("Cardiac Shadow/enlarged",), {"Cardiomegaly": PRESENT, "Enlarged Cardiomediastinum": UNDETERMINED}),
    (("Cardiac Shadow/enlarged", "Mediastinum/prominent"), {"Cardiomegaly": PRESENT,
                                                            "Enlarged Cardiomediastinum": PRESENT}),
    # "nodular opacity" is coded Opacity/.../round
    (("Opacity/lung/upper lobe/right/round",), {"Lung Opacity": PRESENT, "Lung Lesion": PRESENT}),
    (("Opacity/ribs/left/anterior/round",), {"No Finding": PRESENT}),
    (("Density/lung/base/left",), {"Lung Opacity": PRESENT}),
    (("Hydropneumothorax/right", "Stents"), {"Pneumothorax": PRESENT, "Pleural Effusion": PRESENT,
                                             "Support Devices": PRESENT}),
    (("Catheters, Indwelling", "Calcified Granuloma/lung"), {"Support Devices": PRESENT, "No Finding": PRESENT}),
])
def test_mesh_truth_mapping(terms, expected):
    assert mesh_truth(terms) == expected


def test_score_leaves_out_hedged_and_undetermined_cells():
    ec, cm = OBSERVATION_INDEX["Enlarged Cardiomediastinum"], OBSERVATION_INDEX["Cardiomegaly"]
    truth = np.zeros((3, NUM_OBSERVATIONS), dtype=np.int8)
    truth[0, cm], truth[1, cm], truth[2, cm] = PRESENT, HEDGED, ABSENT
    truth[0, ec], truth[1, ec] = UNDETERMINED, PRESENT
    labels = np.zeros_like(truth)
    labels[0, cm], labels[1, cm], labels[2, cm] = POSITIVE, UNCERTAIN, UNCERTAIN
    labels[0, ec], labels[1, ec] = POSITIVE, POSITIVE
    strict = score(labels, truth)["per_observation"]
    assert strict["Cardiomegaly"] == {"n_true": 1, "n_pred": 1, "n_skip": 1, "precision": 1.0, "recall": 1.0,
                                      "f1": 1.0}
    assert strict["Enlarged Cardiomediastinum"]["n_skip"] == 1 and strict["Enlarged Cardiomediastinum"]["f1"] == 1.0
    lenient = score(labels, truth, uncertain_positive=True)["per_observation"]["Cardiomegaly"]
    assert (lenient["n_true"], lenient["n_skip"], lenient["precision"], lenient["recall"]) == (2, 0, 0.6667, 1.0)


@pytest.fixture(scope="module")
def even_scores() -> dict:
    reports = split_reports("even")
    assert len(reports) > 1800 and all(r.report_id % 2 == 0 for r in reports)
    labels = RuleLabeler().label([r.text for r in reports])
    return score(labels, truth_matrix(reports))


@pytest.mark.parametrize("obs", CHEXPERT_OBSERVATIONS)
def test_even_half_f1_floor_per_observation(even_scores, obs):
    assert even_scores["per_observation"][obs]["f1"] >= EVEN_F1_FLOOR[obs], even_scores["per_observation"][obs]


def test_even_half_macro_f1_floor(even_scores):
    assert even_scores["macro_f1"] >= EVEN_MACRO_FLOOR
