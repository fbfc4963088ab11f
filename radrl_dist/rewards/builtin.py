"""The built-in reward components (signature.py says what a component is; registry.py registers COMPONENTS)."""

from __future__ import annotations

import numpy as np

from radrl_dist.rewards.format import format_reward
from radrl_dist.rewards.grounding import PRECISION_BOXES, PRECISION_MASS, iou_reward
from radrl_dist.rewards.mccs import ccs, ce_f1, mccs
from radrl_dist.rewards.signature import ComponentFn


def mccs_component(view, margin: float = 0.0, eps: float = 1e-8, both_blank: float | None = None) -> np.ndarray:
    """MRG-R1 eq. 6 on the labels of the extracted report and of the reference."""
    return mccs(view.candidate_labels, view.reference_labels, margin=margin, eps=eps, both_blank=both_blank)


def ccs_component(view, eps: float = 1e-8, both_blank: float | None = None) -> np.ndarray:
    """MRG-R1 eq. 5 (cosine without margin), in [-1, 1]."""
    return ccs(view.candidate_labels, view.reference_labels, eps=eps, both_blank=both_blank)


def ce_f1_component(view, uncertain_positive: bool = True, include_no_finding: bool = True,
                    both_empty: float = 0.0) -> np.ndarray:
    """Report-level CE-F1 (MRG-R1's ablation)."""
    return ce_f1(view.candidate_labels, view.reference_labels, uncertain_positive, include_no_finding, both_empty)


def format_report_component(view, partial_credit: bool = True) -> np.ndarray:
    """<think>..</think><report>..</report> structure."""
    return format_reward(view.texts, "report", partial_credit)


def format_answer_component(view, partial_credit: bool = True) -> np.ndarray:
    """<think>..</think><answer>..</answer> structure."""
    return format_reward(view.texts, "answer", partial_credit)


def format_report_binary_component(view) -> np.ndarray:
    """BoxMed-RL eq. 8 for the report format: 1 when fully well formed, else 0."""
    return format_reward(view.texts, "report", partial_credit=False)


def format_answer_binary_component(view) -> np.ndarray:
    """BoxMed-RL eq. 8: 1 when <think>..</think><answer>..</answer> is fully well formed, else 0."""
    return format_reward(view.texts, "answer", partial_credit=False)


def iou_component(view, match_labels: bool = False, both_empty: float = 1.0) -> np.ndarray:
    """Multi-box soft-F1 as the RadVLM-GRPO paper shows it (= plain IoU for one box against one)."""
    return iou_reward(view.parsed_boxes, view.boxes, view.image_sizes, match_labels, both_empty, PRECISION_BOXES)


def iou_radvlm_code_component(view, match_labels: bool = False, both_empty: float = 1.0) -> np.ndarray:
    """soft-F1 with the RadVLM authors' public-code precision (2u/(1+u) for one box of IoU u)."""
    return iou_reward(view.parsed_boxes, view.boxes, view.image_sizes, match_labels, both_empty, PRECISION_MASS)


COMPONENTS: dict[str, ComponentFn] = {
    "mccs": mccs_component,
    "ccs": ccs_component,
    "ce_f1": ce_f1_component,
    "format_report": format_report_component,
    "format_answer": format_answer_component,
    "format_report_binary": format_report_binary_component,
    "format_answer_binary": format_answer_binary_component,
    "iou": iou_component,
    "iou_radvlm_code": iou_radvlm_code_component,
}
