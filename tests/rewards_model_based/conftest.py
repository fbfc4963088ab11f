"""Tiny random-weight stand-ins of the scorers' checkpoints, built once per test session."""

from __future__ import annotations

import pytest

from radrl_dist.rewards.model_based.tiny import ensure_tiny_model_rewards

CANDS = ["Small left pleural effusion.", "Heart size is normal. The lungs are clear.",
         "No pneumothorax.", "Consolidation in the left upper lobe. Cannot exclude pneumonia.",
         "There is cardiomegaly with mild pulmonary edema and bibasilar atelectasis."]
REFS = ["There is a small left pleural effusion.", "The heart size is normal.", "No pneumothorax.",
        "Patchy airspace opacity in the right lower lobe may represent pneumonia.",
        "No acute cardiopulmonary abnormality."]


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory) -> dict[str, str]:
    return ensure_tiny_model_rewards(tmp_path_factory.mktemp("tiny_rewards"))


@pytest.fixture(scope="session")
def tiny_params(tiny_paths) -> dict:
    return {**tiny_paths, "radgraph": "lexicon"}
