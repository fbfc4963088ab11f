"""Reward components by name, so a config can say {"mccs": 0.75, "format_report": 0.25}.

A component is `fn(view, **params) -> float[N]` (signature.py), where `view` (composite.TaskView) gives
the samples of one task and lazily computed features: `view.texts` (raw outputs), `view.answers`
(extracted report/answer text), `view.candidate_labels` / `view.reference_labels` (int8 [N, 14]),
`view.parsed_boxes`, `view.boxes`, `view.image_sizes`, `view.reference_reports`.

One way to register: `register_reward(name, fn)` (also a decorator). The package's own components are
the `COMPONENTS` tables of the modules below, registered here when this module loads; a text-pair
metric `f(candidates, references)` becomes a component with `signature.text_pair_component`.
- builtin.py: mccs, ccs, ce_f1, format_report, format_answer (partial credit), format_report_binary,
  format_answer_binary (BoxMed-RL eq. 8), iou (soft-F1, RadVLM paper), iou_radvlm_code (the RadVLM
  authors' public-code soft-F1);
- nlg.py: bleu4, rouge_l, cider_d, gleu;
- model_based/components.py: bertscore, chexbert_cosine, radgraph_f1, neg_radcliq (their scorers,
  and torch, load only when a component first runs; importing this module loads none).

Parameters come from config (`reward.params: {component: {param: value}}`); `check_params` holds them
against the keyword parameters the component's function declares, so a misspelt one fails up front.
"""

from __future__ import annotations

from collections.abc import Mapping

from radrl_dist.rewards import builtin, nlg
from radrl_dist.rewards.model_based import components as model_based_components
from radrl_dist.rewards.signature import ComponentFn, keyword_params

_REGISTRY: dict[str, ComponentFn] = {}


def register_reward(name: str, fn: ComponentFn | None = None):
    """Register `fn(view, **params) -> float[N]` under `name` (usable as a decorator)."""

    def deco(f: ComponentFn) -> ComponentFn:
        _REGISTRY[name] = f
        return f

    return deco(fn) if fn is not None else deco


def _register_package_components() -> None:
    tables = (builtin.COMPONENTS, nlg.COMPONENTS, model_based_components.COMPONENTS)
    for table in tables:
        for name, fn in table.items():
            if name in _REGISTRY:  # two of the package's tables naming one component: a bug, not an override
                raise RuntimeError(f"reward component {name!r} is defined twice")
            register_reward(name, fn)


_register_package_components()


def accepted_params(name: str) -> frozenset[str] | None:
    """Keyword parameters component `name` accepts (None: any, it forwards **params)."""
    fn = get_reward(name)
    declared = getattr(fn, "accepted_params", ...)
    return keyword_params(fn, skip=1) if declared is ... else declared


def check_params(name: str, params: Mapping[str, object], where: str = "reward.params") -> None:
    """ValueError naming `where.name.param` for a parameter component `name` does not take."""
    ok = accepted_params(name)
    if ok is None:
        return
    for key in params:
        if key not in ok:
            raise ValueError(f"{where}.{name}.{key}: reward component {name!r} has no parameter {key!r}; "
                             f"it takes {sorted(ok) or 'none'}")


def get_reward(name: str) -> ComponentFn:
    """The component registered as `name`; unknown names raise with the known ones listed."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown reward component {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def known_rewards() -> list[str]:
    return sorted(_REGISTRY)
