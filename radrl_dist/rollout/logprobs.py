"""Per-token log-probs of sampled completions under an HF model: the learner's recomputation.

The learner imports this to recompute log-probs of the tokens an engine sampled, from the same
processor inputs the engine saw (`prepare.encode_prompt`), so it can compare them with the
behaviour log-probs in each `Candidate`. Layout of a micro-batch: prompts left-padded to a common
length, completions right-padded after them, so every completion starts in the same column and the
forward only materialises logits for the completion columns (`logits_to_keep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_SEQ_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def token_logprobs_from_logits(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0, suppress_token_ids: Sequence[int] = ()
) -> torch.Tensor:
    """log-softmax(mask(logits) / T) at `token_ids`; the distribution both engines sample from."""
    logits = logits.float()
    if suppress_token_ids:
        logits = logits.clone()
        logits[..., list(suppress_token_ids)] = float("-inf")
    if temperature != 1.0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)


def collate(
    prompts: Sequence[dict[str, Any]], completions: Sequence[Sequence[int]], pad_token_id: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """(model inputs, completion ids [B, Tc], completion mask [B, Tc]) for one micro-batch.

    `prompts[i]` is the processor output (batch dim 1) of the prompt of `completions[i]`.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"collate: {len(prompts)} prompts but {len(completions)} completions")
    if any(len(c) == 0 for c in completions):
        raise ValueError("collate: empty completion (nothing to score)")
    p_max = max(int(p["input_ids"].shape[1]) for p in prompts)
    t_max = max(len(c) for c in completions)
    b = len(prompts)
    comp = torch.full((b, t_max), pad_token_id, dtype=torch.long)
    cmask = torch.zeros((b, t_max), dtype=torch.long)
    seq: dict[str, torch.Tensor] = {}
    keys = [k for k in _SEQ_KEYS if k in prompts[0]]
    for k in keys:
        fill = pad_token_id if k == "input_ids" else 0
        seq[k] = torch.full((b, p_max + t_max), fill, dtype=prompts[0][k].dtype)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        n = int(p["input_ids"].shape[1])
        comp[i, : len(c)] = torch.tensor(list(c), dtype=torch.long)
        cmask[i, : len(c)] = 1
        for k in keys:
            seq[k][i, p_max - n : p_max] = p[k][0]
        seq["input_ids"][i, p_max : p_max + t_max] = comp[i]
        if "attention_mask" in seq:
            seq["attention_mask"][i, p_max : p_max + len(c)] = 1
    batch = dict(seq)
    for k in prompts[0]:
        if k not in _SEQ_KEYS and isinstance(prompts[0][k], torch.Tensor):
            batch[k] = torch.cat([p[k] for p in prompts], dim=0)  # pixel_values, image_grid_thw: concat per image
    return batch, comp, cmask


def forward_logprobs(
    model, batch: dict[str, torch.Tensor], completion_ids: torch.Tensor, temperature: float = 1.0,
    suppress_token_ids: Sequence[int] = (),
) -> torch.Tensor:
    """[B, Tc] log-probs of the completion tokens (differentiable; the learner's loss can use it)."""
    t_max = completion_ids.shape[1]
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    out = model(**batch, logits_to_keep=t_max + 1, use_cache=False)
    logits = out.logits[:, :-1, :]  # column p_max-1+j predicts completion token j
    return token_logprobs_from_logits(logits, completion_ids.to(device), temperature, suppress_token_ids)


@torch.no_grad()
def completion_logprobs(
    model,
    prompts: Sequence[dict[str, Any]],
    completions: Sequence[Sequence[int]],
    *,
    prompt_index: Sequence[int] | None = None,
    temperature: float = 1.0,
    suppress_token_ids: Sequence[int] = (),
    micro_batch_size: int = 8,
    pad_token_id: int = 0,
) -> list[torch.Tensor]:
    """Log-probs (float32 CPU, one 1-D tensor per completion) computed in micro-batches.

    `prompt_index[i]` says which prompt completion i belongs to (default: one prompt per completion),
    so G candidates of a study share one processor output.
    """
    if prompt_index is None:
        prompt_index = list(range(len(completions)))
    if len(prompt_index) != len(completions):
        raise ValueError("prompt_index must have one entry per completion")
    was_training = model.training
    model.eval()
    result: list[torch.Tensor] = []
    try:
        for s in range(0, len(completions), micro_batch_size):
            idx = range(s, min(s + micro_batch_size, len(completions)))
            batch, comp, mask = collate([prompts[prompt_index[i]] for i in idx], [completions[i] for i in idx], pad_token_id)
            lp = forward_logprobs(model, batch, comp, temperature, suppress_token_ids).float().cpu()
            result.extend(lp[j, : int(mask[j].sum())] for j in range(len(idx)))
    finally:
        model.train(was_training)
    return result
