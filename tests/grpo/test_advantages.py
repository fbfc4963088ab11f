import math

import pytest
import torch

from radrl_dist.grpo import group_advantages


def ref_adv(group, mode, eps):
    m = sum(group) / len(group)
    if max(group) == min(group):
        return [0.0] * len(group)
    if mode == "no_std":
        return [r - m for r in group]
    if mode == "population_std":  # MRG-R1 eq. 2: population variance, eps inside the root
        return [(r - m) / math.sqrt(sum((x - m) ** 2 for x in group) / len(group) + eps) for r in group]
    sd = math.sqrt(sum((r - m) ** 2 for r in group) / (len(group) - 1))
    return [(r - m) / (sd + eps) for r in group]


@pytest.mark.parametrize("mode", ["std", "population_std", "no_std"])
def test_matches_float64_rederivation(mode):
    g = torch.Generator().manual_seed(0)
    r = torch.rand(6, 5, generator=g)
    r[2] = 0.25  # constant group
    out = group_advantages(r, mode=mode, eps=1e-6)
    for i in range(6):
        want = ref_adv(r[i].double().tolist(), mode, 1e-6)
        assert out.advantages[i].tolist() == pytest.approx(want, abs=1e-6)
    assert out.zero_spread.tolist() == [False, False, True, False, False, False]


@pytest.mark.parametrize("value", [0.0, 0.1, 1.0, 7.3])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_constant_group_is_zero_not_nan(value, eps):
    out = group_advantages(torch.full((3, 4), value), mode="std", eps=eps)
    assert torch.equal(out.advantages, torch.zeros(3, 4))
    assert out.zero_spread.all() and out.zero_spread_fraction == 1.0


def test_skip_zero_spread_keeps_only_informative_groups():
    r = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.5]])
    assert group_advantages(r, skip_zero_spread=True).keep.tolist() == [False, True]
    assert group_advantages(r, skip_zero_spread=False).keep.tolist() == [True, True]


def test_advantages_sum_to_zero_per_group():
    r = torch.randn(10, 8, generator=torch.Generator().manual_seed(1))
    for mode in ("std", "population_std", "no_std"):
        assert group_advantages(r, mode=mode).advantages.sum(1).abs().max() < 1e-5


def test_population_std_by_hand_is_1155x_bessel_at_g4():
    """Rewards [0, 0, 0, 1]: mean 1/4, population var 3/16, Bessel var 1/4 (eps 1e-12 negligible)."""
    r = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    pop = group_advantages(r, mode="population_std", eps=1e-12).advantages[0]
    bessel = group_advantages(r, mode="std", eps=1e-12).advantages[0]
    third = 1 / math.sqrt(3)
    assert pop.tolist() == pytest.approx([-third, -third, -third, 3 * third], abs=1e-6)  # -0.577, 1.732
    assert bessel.tolist() == pytest.approx([-0.5, -0.5, -0.5, 1.5], abs=1e-6)
    assert (pop / bessel).tolist() == pytest.approx([math.sqrt(4 / 3)] * 4, abs=1e-6)  # 1.155


def test_population_std_eps_sits_inside_the_root():
    """eps = 0.01 against a spread of 0.02: sqrt(1e-4 + 1e-2) vs Bessel std + 1e-2, hand-computed."""
    r = torch.tensor([[0.0, 0.02]])
    assert group_advantages(r, mode="population_std", eps=0.01).advantages[0, 1] == pytest.approx(
        0.01 / math.sqrt(1e-4 + 0.01), rel=1e-6)  # 0.0995
    assert group_advantages(r, mode="std", eps=0.01).advantages[0, 1] == pytest.approx(
        0.01 / (0.02 / math.sqrt(2) + 0.01), rel=1e-6)  # 0.414


def test_bad_input_names_problem():
    with pytest.raises(ValueError, match="G >= 2"):
        group_advantages(torch.ones(4))
    with pytest.raises(ValueError, match="non-finite.*\\(1, 2\\)"):
        group_advantages(torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, float("nan")]]))
    with pytest.raises(ValueError, match="advantage mode"):
        group_advantages(torch.ones(2, 2), mode="bogus")
