"""What a reward component is: `fn(view, **params) -> float[N]` (or `(float[N], parts)`), the keyword
parameters it declares, and the adapter that makes a text-pair metric `f(candidates, references)` one.

Below the registry and every module that defines components, so they share it without importing each
other (the registry imports them to list them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

ComponentFn = Callable[..., Any]


def keyword_params(fn: Callable, skip: int) -> frozenset[str] | None:
    """Names `fn` takes after its first `skip` positional inputs; None when it takes **kwargs."""
    try:
        sig = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: nothing to check against
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig):
        return None
    return frozenset(p.name for p in list(sig)[skip:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def text_pair_component(fn: Callable[..., Any]) -> ComponentFn:
    """A component scoring the extracted answers against the reference reports with
    `fn(candidates, references, **params) -> float[N]` (the NLG rewards)."""

    def component(view, **params) -> np.ndarray:
        return np.asarray(fn(list(view.answers), list(view.reference_reports), **params), dtype=np.float64)

    component.__name__ = f"{getattr(fn, '__name__', 'text_pair')}_component"
    component.__doc__ = fn.__doc__
    component.accepted_params = keyword_params(fn, skip=2)  # type: ignore[attr-defined]
    return component
