"""One way to register a reward component (issue 19): `register_reward`, called by the registry on the
package's COMPONENTS tables. Before, built-ins registered themselves by decorator, NLG metrics through
`register_text_reward` or a discovered `NLG_REWARDS` dict, each module imported by name on first use."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from radrl_dist.rewards import builtin, nlg
from radrl_dist.rewards.model_based import components as model_based_components
from radrl_dist.rewards.registry import check_params, get_reward, known_rewards
from radrl_dist.rewards.signature import text_pair_component

PKG = Path(__file__).resolve().parents[2] / "radrl_dist"
TABLES = {"builtin": builtin.COMPONENTS, "nlg": nlg.COMPONENTS, "model_based": model_based_components.COMPONENTS}


def test_every_package_component_is_in_exactly_one_table_and_registered():
    names = [n for table in TABLES.values() for n in table]
    assert len(names) == len(set(names)), "a component name in two tables"
    assert set(names) <= set(known_rewards())
    for table in TABLES.values():
        for name, fn in table.items():
            assert get_reward(name) is fn, name
    assert {"mccs", "iou", "bleu4", "cider_d", "bertscore", "neg_radcliq"} <= set(names)


def test_only_the_registry_registers():
    """No module registers itself: a component is added to its module's table, the registry lists the tables."""
    calls = []
    for path in PKG.rglob("*.py"):
        if path == PKG / "rewards" / "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(getattr(node, "func", None), "id", None) or getattr(getattr(node, "func", None), "attr", None)
            if isinstance(node, ast.Call) and name in ("register_reward", "register_text_reward"):
                calls.append(f"{path.relative_to(PKG.parent)}:{node.lineno}")
    assert not calls, calls


def test_text_pair_metric_becomes_a_component_with_its_parameters():
    def overlap(candidates, references, min_len: int = 0):
        return [float(len(set(c.split()) & set(r.split())) >= min_len) for c, r in zip(candidates, references)]

    comp = text_pair_component(overlap)
    view = type("View", (), {"answers": ["a b", "c"], "reference_reports": ["a b", "d"]})()
    np.testing.assert_array_equal(comp(view, min_len=1), [1.0, 0.0])
    assert comp.accepted_params == frozenset({"min_len"})
    with pytest.raises(ValueError, match=r"reward\.params\.bleu4\.smooth: reward component 'bleu4' has no parameter"):
        check_params("bleu4", {"smooth": 1})
