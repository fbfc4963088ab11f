"""Reward components by name, so a config can say {"mccs": 0.75, "format_report": 0.25}.

A component is `fn(view, **params) -> float[N]`, where `view` (composite.TaskView) gives the
samples of one task and lazily computed features: `view.texts` (raw outputs), `view.answers`
(extracted report/answer text), `view.candidate_labels` / `view.reference_labels` (int8 [N, 14]),
`view.parsed_boxes`, `view.boxes`, `view.image_sizes`, `view.reference_reports`.
Text-pair rewards `f(candidates, references) -> float[N]` (the NLG ones) register with
`register_text_reward`: they get the extracted answers and the reference reports.

Built in: mccs, ccs, ce_f1, format_report, format_answer, iou. The NLG rewards (bleu4, rouge_l,
cider_d, gleu) come from `radrl_dist.rewards.nlg`, imported only when one is asked for; that module
may call `register_reward`/`register_text_reward` or just expose `NLG_REWARDS = {name: fn}`.
The model-based ones (bertscore, chexbert_cosine, radgraph_f1, neg_radcliq) register themselves
from `radrl_dist.rewards.model_based.components`, also only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
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
    _REGISTRY[name] = component


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
