"""The training batch: one `TrainingSample` per sampled completion, collated into padded micro-batches.

Row layout of a micro-batch: [left pad | prompt | completion | right pad]. Every completion then
starts at the same column, so the log-prob pass asks the model for the last C+1 logits only
(`logits_to_keep`) instead of logits over the whole prompt (image tokens included).

`plan_step` shards one rollout batch over the learner ranks: `updates_per_step` optimizer updates,
each rank's share balanced by token count and cut into micro-batches. Under ZeRO-3 every rank must run
the same number of forward/backward passes (parameter all-gathers are collective), so short ranks get
padding candidates whose completion mask is all zero: they add exactly nothing to loss or gradient.

A training step reaches the learner by reference (`LearnerHandoff`): every rank fetches the rollout
actors' candidates and prompt inputs from the object store, builds the same candidate list
(`candidates_from_rollouts`) and the same plan, and trains on its own share; the driver sends only
refs and the advantages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from typing import Any

import torch

from radrl_dist.grpo.loss import LossNormaliser
from radrl_dist.models.prompt_inputs import PromptInputs


@dataclass
class TrainingSample:
    """What the learner trains on: one completion with its prompt inputs, behaviour log-probs and advantage
    (SFT: a target with advantage 0). Built from a rollout's `SampledCompletion` (rollout/types.py)."""

    prompt: PromptInputs
    completion_ids: torch.Tensor  # (C,) int64, as generated (EOS included if sampled)
    behaviour_logps: torch.Tensor  # (C,) log-probs the generating engine gave these tokens
    advantage: float
    completion_mask: torch.Tensor | None = None  # (C,) 1 = train on this token; default all ones
    version: int = -1  # weight version that generated it
    group: int = -1
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.completion_ids.shape[0]
        if self.completion_ids.ndim != 1 or c == 0:
            raise ValueError("TrainingSample.completion_ids must be a non-empty 1-D tensor, "
                             f"got {tuple(self.completion_ids.shape)}")
        if self.behaviour_logps.shape != (c,):
            raise ValueError(f"TrainingSample.behaviour_logps has shape {tuple(self.behaviour_logps.shape)}, "
                             f"expected ({c},) like completion_ids")
        if self.completion_mask is None:
            self.completion_mask = torch.ones(c)
        elif self.completion_mask.shape != (c,):
            raise ValueError(f"TrainingSample.completion_mask has shape {tuple(self.completion_mask.shape)}, expected ({c},)")

    @property
    def num_tokens(self) -> int:
        return int(self.completion_mask.sum())

    def as_padding(self) -> "TrainingSample":
        """A copy that contributes nothing (mask 0, advantage 0): keeps ZeRO-3 ranks in lock-step."""
        return dataclasses.replace(self, completion_mask=torch.zeros_like(self.completion_mask), advantage=0.0)


@dataclass(frozen=True)
class LearnerHandoff:
    """One GRPO step for the learner, by reference. `chunks`: (rollouts, prompts) object refs per
    rollout chunk (radrl_dist.rollout.handoff.ChunkRefs.learner_part), in one order every rank
    sees; `advantages[study_id]`: one per candidate of that study, in candidate order (studies left
    out: dropped groups or failed studies)."""

    chunks: list[tuple[Any, Any]]
    advantages: dict[str, list[float]]


def candidates_from_rollouts(rollouts, prompts: dict[str, PromptInputs],
                             advantages: dict[str, list[float]]) -> list[TrainingSample]:
    """The learner's candidates of one step: each candidate of each study in `advantages`, sharing
    its study's prompt inputs. `rollouts`: StudyRollout-like (study_id, candidates with token_ids,
    logprobs, prompt_token_ids, weight_version, sample_index). Empty completions are left out (no
    token to train on; their reward still counted in the group). Deterministic: every rank builds
    the same list from the same inputs."""
    out = []
    for gi, roll in enumerate(r for r in rollouts if r.study_id in advantages):
        adv = advantages[roll.study_id]
        if len(adv) != len(roll.candidates):
            raise ValueError(f"study {roll.study_id}: {len(adv)} advantages for {len(roll.candidates)} candidates")
        prompt = prompts[roll.study_id]
        if roll.candidates and list(prompt.input_ids.tolist()) != list(roll.candidates[0].prompt_token_ids):
            raise RuntimeError(f"study {roll.study_id}: learner prompt tokens differ from the engine's; "
                               "processor or chat template mismatch")
        for a, c in zip(adv, roll.candidates):
            if not c.token_ids:
                continue
            out.append(TrainingSample(prompt=prompt, completion_ids=torch.tensor(c.token_ids, dtype=torch.long),
                                 behaviour_logps=torch.tensor(c.logprobs, dtype=torch.float32), advantage=float(a),
                                 version=c.weight_version, group=gi,
                                 meta={"study_id": roll.study_id, "sample_index": c.sample_index}))
    return out


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # (B, P + C)
    attention_mask: torch.Tensor
    mm_token_type_ids: torch.Tensor | None
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    completion_ids: torch.Tensor  # (B, C)
    completion_mask: torch.Tensor  # (B, C) float
    behaviour_logps: torch.Tensor  # (B, C) float32
    advantages: torch.Tensor  # (B,) float32
    token_type_key: str = "mm_token_type_ids"  # the model's name for `mm_token_type_ids` (the family's, see PromptInputs)

    def model_inputs(self) -> dict:
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.mm_token_type_ids is not None:
            out[self.token_type_key] = self.mm_token_type_ids
        for k in ("pixel_values", "image_grid_thw"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    def to(self, device, float_dtype: torch.dtype | None = None) -> "MicroBatch":
        def mv(x, is_pixels=False):
            if not isinstance(x, torch.Tensor):
                return x
            return x.to(device, dtype=float_dtype if is_pixels and float_dtype else None)

        return MicroBatch(**{f.name: mv(getattr(self, f.name), f.name == "pixel_values") for f in dataclasses.fields(self)})


def collate(cands: list[TrainingSample], pad_id: int) -> MicroBatch:
    """Pad candidates into one micro-batch (prompts left-padded, completions right-padded)."""
    if not cands:
        raise ValueError("collate: empty micro-batch")
    P = max(c.prompt.input_ids.shape[0] for c in cands)
    C = max(c.completion_ids.shape[0] for c in cands)
    B = len(cands)
    ids = torch.full((B, P + C), pad_id, dtype=torch.long)
    att = torch.zeros((B, P + C), dtype=torch.long)
    mm = torch.zeros((B, P + C), dtype=torch.long)
    comp = torch.full((B, C), pad_id, dtype=torch.long)
    cmask = torch.zeros((B, C))
    blogp = torch.zeros((B, C))
    pixels, grids = [], []
    has_mm = any(c.prompt.mm_token_type_ids is not None for c in cands)
    for i, c in enumerate(cands):
        p, n = c.prompt.input_ids.shape[0], c.completion_ids.shape[0]
        ids[i, P - p : P] = c.prompt.input_ids
        ids[i, P : P + n] = c.completion_ids
        att[i, P - p : P + n] = 1
        if c.prompt.mm_token_type_ids is not None:
            mm[i, P - p : P] = c.prompt.mm_token_type_ids
        comp[i, :n] = c.completion_ids
        cmask[i, :n] = c.completion_mask
        blogp[i, :n] = c.behaviour_logps.float()
        if c.prompt.pixel_values is not None:
            pixels.append(c.prompt.pixel_values)
        if c.prompt.image_grid_thw is not None:
            grids.append(c.prompt.image_grid_thw)
    return MicroBatch(
        ids, att, mm if has_mm else None, torch.cat(pixels) if pixels else None, torch.cat(grids) if grids else None,
        comp, cmask, blogp, torch.tensor([float(c.advantage) for c in cands]), cands[0].prompt.token_type_key,
    )


@dataclass
class RankUpdate:
    """One optimizer update as one rank sees it: its micro-batches and the update's global counts."""

    micro_batches: list[list[TrainingSample]]
    norm: LossNormaliser


def _balanced_shares(cands: list[TrainingSample], world: int) -> list[list[TrainingSample]]:
    """Longest-first onto the least-loaded rank (cost ~ prompt + completion length)."""
    shares: list[list[TrainingSample]] = [[] for _ in range(world)]
    load = [0] * world
    cost = lambda c: c.prompt.input_ids.shape[0] + c.completion_ids.shape[0]  # noqa: E731
    for c in sorted(cands, key=cost, reverse=True):
        r = min(range(world), key=lambda k: (load[k], len(shares[k])))
        shares[r].append(c)
        load[r] += cost(c)
    return shares


def plan_step(cands: list[TrainingSample], world: int, micro_batch_size: int, updates: int = 1) -> list[list[RankUpdate]]:
    """plan[rank][u]: rank's part of optimizer update u. Candidates with an all-zero mask are dropped."""
    live = [c for c in cands if c.num_tokens > 0]
    if not live:
        raise ValueError("plan_step: no candidate has a completion token to train on")
    updates = min(updates, len(live))
    size = -(-len(live) // updates)
    plan: list[list[RankUpdate]] = [[] for _ in range(world)]
    for u in range(updates):
        chunk = live[u * size : (u + 1) * size]
        if not chunk:
            continue
        norm = LossNormaliser(tokens=float(sum(c.num_tokens for c in chunk)), seqs=float(len(chunk)))
        shares = _balanced_shares(chunk, world)
        n_micro = max(-(-len(s) // micro_batch_size) for s in shares)
        for r, share in enumerate(shares):
            share = sorted(share, key=lambda c: c.completion_ids.shape[0])
            mbs = [share[i * micro_batch_size : (i + 1) * micro_batch_size] for i in range(n_micro)]
            mbs = [mb if mb else [chunk[0].as_padding()] for mb in mbs]
            plan[r].append(RankUpdate(mbs, norm))
    return plan
