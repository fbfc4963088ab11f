"""Batch format and planning (pure), and the log-prob pass on the tiny model in-process."""

import pytest
import torch

from radrl_dist.learner.batch import TrainingSample, collate, plan_step
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.prompt_inputs import PromptInputs


def cand(p_len, c_len, adv=1.0, mask=None):
    prompt = PromptInputs(torch.arange(1, p_len + 1), torch.zeros(p_len, dtype=torch.long))
    return TrainingSample(prompt, torch.arange(100, 100 + c_len), torch.full((c_len,), -1.0), adv, mask)


def test_collate_layout_left_prompt_right_completion():
    mb = collate([cand(3, 2), cand(5, 4)], pad_id=0)
    assert mb.input_ids.tolist() == [[0, 0, 1, 2, 3, 100, 101, 0, 0], [1, 2, 3, 4, 5, 100, 101, 102, 103]]
    assert mb.attention_mask.tolist() == [[0, 0, 1, 1, 1, 1, 1, 0, 0], [1] * 9]
    assert mb.completion_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert mb.behaviour_logps[0, 2:].tolist() == [0.0, 0.0]


def test_candidate_validation_names_field():
    p = PromptInputs(torch.arange(3))
    with pytest.raises(ValueError, match="behaviour_logps"):
        TrainingSample(p, torch.arange(4), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="completion_mask"):
        TrainingSample(p, torch.arange(4), torch.zeros(4), 0.0, torch.ones(2))
    with pytest.raises(ValueError, match="empty micro-batch"):
        collate([], 0)


@pytest.mark.parametrize("n,world,mbs,updates", [(8, 2, 2, 1), (7, 2, 2, 1), (5, 2, 4, 2), (3, 4, 1, 1), (16, 3, 3, 2)])
def test_plan_step_lockstep_and_exact_counts(n, world, mbs, updates):
    cands = [cand(4, 2 + i % 5, adv=float(i)) for i in range(n)]
    plan = plan_step(cands, world, mbs, updates)
    assert len(plan) == world
    n_updates = len(plan[0])
    seen = []
    for u in range(n_updates):
        counts = {len(plan[r][u].micro_batches) for r in range(world)}
        assert len(counts) == 1  # every rank runs the same number of passes (ZeRO-3)
        live = [c for r in range(world) for mb in plan[r][u].micro_batches for c in mb if c.num_tokens > 0]
        assert all(len(mb) <= mbs for r in range(world) for mb in plan[r][u].micro_batches)
        assert plan[0][u].norm.tokens == sum(c.num_tokens for c in live)
        assert plan[0][u].norm.seqs == len(live)
        seen += live
    assert sorted(c.advantage for c in seen) == sorted(c.advantage for c in cands)


def test_plan_step_drops_fully_masked_and_rejects_empty():
    cands = [cand(3, 2), cand(3, 2, mask=torch.zeros(2))]
    plan = plan_step(cands, 1, 4, 1)
    assert plan[0][0].norm.seqs == 1
    with pytest.raises(ValueError, match="no candidate"):
        plan_step([cands[1]], 1, 4, 1)


def test_padded_logprobs_equal_single(tiny_path, fixed_batch, suppress):
    """Left/right padding and image concatenation do not change any candidate's log-probs."""
    from radrl_dist.models.loading import load_policy

    model = load_policy(tiny_path).eval()
    with torch.no_grad():
        lp, ent = completion_logprobs(model, collate(fixed_batch, 0), with_entropy=True, suppress_ids=suppress)
    for i, c in enumerate(fixed_batch):
        n = c.completion_ids.shape[0]
        assert torch.allclose(lp[i, :n], c.behaviour_logps, atol=2e-5)
        assert (lp[i, n:] == 0).all() and torch.isfinite(lp).all() and (ent[i, :n] > 0).all()


def test_logprobs_temperature_divides_logits(tiny_path, fixed_batch):
    from radrl_dist.models.loading import load_policy

    model = load_policy(tiny_path).eval()
    mb = collate(fixed_batch[:2], 0)
    with torch.no_grad():
        lp2, _ = completion_logprobs(model, mb, temperature=2.0)
        C = mb.completion_ids.shape[1]
        logits = model(**mb.model_inputs(), logits_to_keep=C + 1).logits[:, :-1] / 2.0
        want = logits.log_softmax(-1).gather(-1, mb.completion_ids[..., None])[..., 0] * mb.completion_mask
    assert torch.allclose(lp2, want, atol=1e-6)
