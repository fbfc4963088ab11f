"""Reward components by name, so a config can say {"mccs": 0.75, "format_report": 0.25}.

A component is `fn(view, **params) -> float[N]`, where `view` (composite.TaskView) gives the
samples of one task and lazily computed features: `view.texts` (raw outputs), `view.answers`
(extracted report/answer text), `view.candidate_labels` / `view.reference_labels` (int8 [N, 14]),
`view.parsed_boxes`, `view.boxes`, `view.image_sizes`, `view.reference_reports`.
Text-pair rewards `f(candidates, references) -> float[N]` (the NLG ones) register with
`register_text_reward`: they get the extracted answers and the reference reports.

Parameters come from config (`reward.params: {component: {param: value}}`); `check_params` holds them
against the keyword parameters the component's function declares, so a misspelt one fails up front.

Built in: mccs, ccs, ce_f1, format_report, format_answer (partial credit), format_report_binary,
format_answer_binary (BoxMed-RL eq. 8), iou (soft-F1, RadVLM paper), iou_radvlm_code (the RadVLM
authors' public-code soft-F1). The NLG rewards (bleu4, rouge_l,
cider_d, gleu) come from `radrl_dist.rewards.nlg`, imported only when one is asked for; that module
may call `register_reward`/`register_text_reward` or just expose `NLG_REWARDS = {name: fn}`.
The model-based ones (bertscore, chexbert_cosine, radgraph_f1, neg_radcliq) register themselves
from `radrl_dist.rewards.model_based.components`, also only when asked for.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

ComponentFn = Callable[..., np.ndarray]
_REGISTRY: dict[str, ComponentFn] = {}
_LAZY_MODULES = ("radrl_dist.rewards.nlg", "radrl_dist.rewards.model_based.components")


def register_reward(name: str, fn: ComponentFn | None = None):
    """Register `fn(view, **params) -> float[N]` under `name` (usable as a decorator)."""

    def deco(f: ComponentFn) -> ComponentFn:
        _REGISTRY[name] = f
        return f

    return deco(fn) if fn is not None else deco


def register_text_reward(name: str, fn: Callable[[list[str], list[str]], Any]) -> None:
    """Register a text-pair reward `fn(candidates, references) -> float[N]`."""

    def component(view, **params) -> np.ndarray:
        return np.asarray(fn(list(view.answers), list(view.reference_reports), **params), dtype=np.float64)

    component.__doc__ = fn.__doc__
    component.accepted_params = _keyword_params(fn, skip=2)  # type: ignore[attr-defined]
    _REGISTRY[name] = component


def _keyword_params(fn: Callable, skip: int) -> frozenset[str] | None:
    """Names `fn` takes after its first `skip` positional inputs; None when it takes **kwargs."""
    try:
        sig = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: nothing to check against
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig):
        return None
    return frozenset(p.name for p in list(sig)[skip:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def accepted_params(name: str) -> frozenset[str] | None:
    """Keyword parameters component `name` accepts (None: any, it forwards **params)."""
    fn = get_reward(name)
    declared = getattr(fn, "accepted_params", ...)
    return _keyword_params(fn, skip=1) if declared is ... else declared


def check_params(name: str, params: Mapping[str, object], where: str = "reward.params") -> None:
    """ValueError naming `where.name.param` for a parameter component `name` does not take."""
    ok = accepted_params(name)
    if ok is None:
        return
    for key in params:
        if key not in ok:
            raise ValueError(f"{where}.{name}.{key}: reward component {name!r} has no parameter {key!r}; "
                             f"it takes {sorted(ok) or 'none'}")


def _load_lazy(name: str) -> list[str]:
    errors = []
    for mod_name in _LAZY_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            errors.append(f"{mod_name}: {exc}")
            continue
        for key, fn in (getattr(mod, "NLG_REWARDS", None) or {}).items():
            if key not in _REGISTRY:
                register_text_reward(key, fn)
    return errors


def get_reward(name: str) -> ComponentFn:
    """The component registered as `name`; unknown names raise with the known ones listed."""
    _ensure_builtins()
    if name not in _REGISTRY:
        errors = _load_lazy(name)
        if name not in _REGISTRY:
            extra = f" (could not import: {'; '.join(errors)})" if errors else ""
            raise KeyError(f"unknown reward component {name!r}; known: {sorted(_REGISTRY)}{extra}")
    return _REGISTRY[name]


def known_rewards() -> list[str]:
    _ensure_builtins()
    _load_lazy("")
    return sorted(_REGISTRY)


def _ensure_builtins() -> None:
    if "mccs" not in _REGISTRY:
        importlib.import_module("radrl_dist.rewards.builtin")
