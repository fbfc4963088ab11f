"""Reward components of the model-based scorers, weighted by `reward.weights` like any other:
`bertscore`, `chexbert_cosine`, `radgraph_f1` (their `value`) and `neg_radcliq` (-RadCliQ-v1 with
RadVLM-GRPO's -3 for empty, failed or tag-less answers). Each returns (values, parts): the parts
are logged as `<task>/<component>.<part>` beside the reward.

Where the scores come from: inside the reward pool, the actors computed them (RewardBatch.pair_scores);
in-process, the scorer is built here from the component's params (local paths) and cached.
"""

from __future__ import annotations

import numpy as np

from radrl_dist.rewards.model_based.factory import MODEL_COMPONENTS, cached_scorer
from radrl_dist.rewards.model_based.radcliq import FAIL_REWARD, MIN_CHARS, neg_radcliq_reward
from radrl_dist.rewards.signature import ComponentFn


def component_parts(view, name: str, params: dict) -> dict[str, np.ndarray]:
    """The scorer parts of `name` for this task's samples (precomputed by the pool, or computed here)."""
    pre = getattr(view.batch, "pair_scores", None)
    if pre is not None:
        if name not in pre:
            raise RuntimeError(f"reward component {name!r}: the reward pool sent no scores for it; its actors "
                               f"host {sorted(pre)} (radrl_dist.rewards.model_based.MODEL_COMPONENTS)")
        return {k: np.asarray(v, dtype=np.float64)[view.idx] for k, v in pre[name].items()}
    return cached_scorer(MODEL_COMPONENTS[name], params).score_parts(view.answers, view.reference_reports)


def _value_component(name: str):
    def component(view, **params):
        parts = component_parts(view, name, params)
        return parts["value"], {k: v for k, v in parts.items() if k != "value"}

    component.__name__ = f"{name}_component"
    component.__doc__ = f"Model-based {name} of the extracted answer against the reference report."
    return component


def neg_radcliq_component(view, **params):
    """-RadCliQ-v1 (RadVLM-GRPO); -3 for empty (<= 5 chars), failed, or tag-less answers."""
    parts = component_parts(view, "neg_radcliq", params)
    # answer_ok is all True in plain format; in thinking mode False means no </think> + answer block
    value, bad = neg_radcliq_reward(parts["value"], view.answers, view.answer_ok,
                                    min_chars=int(params.get("min_chars") or MIN_CHARS))
    return value, {"radcliq": parts["value"], **{k: v for k, v in parts.items() if k != "value"},
                   "failed": bad.astype(np.float64)}


neg_radcliq_component.empty_value = FAIL_REWARD  # composite: an empty raw output scores this, not 0


COMPONENTS: dict[str, ComponentFn] = {  # the registry lists these
    **{name: _value_component(name) for name in ("bertscore", "chexbert_cosine", "radgraph_f1")},
    "neg_radcliq": neg_radcliq_component,
}
