"""The training batch: one `Candidate` per sampled completion, collated into padded micro-batches.

Row layout of a micro-batch: [left pad | prompt | completion | right pad]. Every completion then
starts at the same column, so the log-prob pass asks the model for the last C+1 logits only
(`logits_to_keep`) instead of logits over the whole prompt (image tokens included).

`plan_step` shards one rollout batch over the learner ranks: `updates_per_step` optimizer updates,
each rank's share balanced by token count and cut into micro-batches. Under ZeRO-3 every rank must run
the same number of forward/backward passes (parameter all-gathers are collective), so short ranks get
padding candidates whose completion mask is all zero: they add exactly nothing to loss or gradient.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from radrl_dist.grpo.loss import LossNormaliser


@dataclass
class PromptInputs:
    """Processor output for one prompt, batch dim removed; shared (not copied) by a group's candidates."""

    input_ids: torch.Tensor  # (P,) int64
    mm_token_type_ids: torch.Tensor | None = None  # (P,) int64; transformers 5 needs it with images
    pixel_values: torch.Tensor | None = None  # (patches, patch_dim)
    image_grid_thw: torch.Tensor | None = None  # (num_images, 3)

    @classmethod
    def from_processor(cls, enc: dict, row: int = 0) -> "PromptInputs":
        """From `processor(text=[one prompt], images=..., return_tensors="pt")` (padding stripped)."""
        ids = enc["input_ids"][row]
        keep = enc["attention_mask"][row].bool() if "attention_mask" in enc else torch.ones_like(ids, dtype=torch.bool)
        mm = enc.get("mm_token_type_ids")
        if enc["input_ids"].shape[0] != 1 and enc.get("pixel_values") is not None:
            raise ValueError("PromptInputs.from_processor: encode one prompt per call when it has images")
        return cls(ids[keep].clone(), None if mm is None else mm[row][keep].clone(),
                   enc.get("pixel_values"), enc.get("image_grid_thw"))


@dataclass
class Candidate:
    """One sampled completion with everything the GRPO update needs."""

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
            raise ValueError(f"Candidate.completion_ids must be a non-empty 1-D tensor, got {tuple(self.completion_ids.shape)}")
        if self.behaviour_logps.shape != (c,):
            raise ValueError(f"Candidate.behaviour_logps has shape {tuple(self.behaviour_logps.shape)}, "
                             f"expected ({c},) like completion_ids")
        if self.completion_mask is None:
            self.completion_mask = torch.ones(c)
        elif self.completion_mask.shape != (c,):
            raise ValueError(f"Candidate.completion_mask has shape {tuple(self.completion_mask.shape)}, expected ({c},)")

    @property
    def num_tokens(self) -> int:
        return int(self.completion_mask.sum())

    def as_padding(self) -> "Candidate":
        """A copy that contributes nothing (mask 0, advantage 0): keeps ZeRO-3 ranks in lock-step."""
        return dataclasses.replace(self, completion_mask=torch.zeros_like(self.completion_mask), advantage=0.0)


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

    def model_inputs(self) -> dict:
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        for k in ("mm_token_type_ids", "pixel_values", "image_grid_thw"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    def to(self, device, float_dtype: torch.dtype | None = None) -> "MicroBatch":
        def mv(x, is_pixels=False):
            if x is None:
                return None
            return x.to(device, dtype=float_dtype if is_pixels and float_dtype else None)

        return MicroBatch(**{f.name: mv(getattr(self, f.name), f.name == "pixel_values") for f in dataclasses.fields(self)})


def collate(cands: list[Candidate], pad_id: int) -> MicroBatch:
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
            grids.append(c.prompt.image_grid_thw)
    return MicroBatch(
        ids, att, mm if has_mm else None, torch.cat(pixels) if pixels else None, torch.cat(grids) if grids else None,
        comp, cmask, blogp, torch.tensor([float(c.advantage) for c in cands]),
    )


@dataclass
class RankUpdate:
    """One optimizer update as one rank sees it: its micro-batches and the update's global counts."""

    micro_batches: list[list[Candidate]]
    norm: LossNormaliser


def _balanced_shares(cands: list[Candidate], world: int) -> list[list[Candidate]]:
    """Longest-first onto the least-loaded rank (cost ~ prompt + completion length)."""
    shares: list[list[Candidate]] = [[] for _ in range(world)]
    load = [0] * world
    cost = lambda c: c.prompt.input_ids.shape[0] + c.completion_ids.shape[0]  # noqa: E731
    for c in sorted(cands, key=cost, reverse=True):
        r = min(range(world), key=lambda k: (load[k], len(shares[k])))
        shares[r].append(c)
        load[r] += cost(c)
    return shares


def plan_step(cands: list[Candidate], world: int, micro_batch_size: int, updates: int = 1) -> list[list[RankUpdate]]:
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
