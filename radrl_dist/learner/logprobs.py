"""Per-token log-probs of sampled completions under a model, with the processor inputs the engine saw.

Pure function of (model, micro-batch): the learner's training forward, its reference pass and any
consistency check against a rollout engine all go through here: the one recomputation (tests and
benches check an engine with `sample_logprobs`, the same code on a model outside a learner). Logits are
divided by the sampling temperature so the importance ratio compares like with like (the behaviour
log-probs come from the tempered distribution).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from radrl_dist.learner.batch import MicroBatch, TrainingSample, collate


def completion_logprobs(
    model, mb: MicroBatch, temperature: float = 1.0, with_entropy: bool = False, suppress_ids: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logp, entropy) of shape (B, C); 0 where the completion mask is 0. Entropy carries no gradient.

    `suppress_ids` are the tokens the rollout engines never sample (vision special tokens): the
    sampled policy is the model with those logits at -inf, so the learner's policy is the same.
    """
    C = mb.completion_ids.shape[1]
    out = model(**mb.model_inputs(), logits_to_keep=C + 1, use_cache=False)
    logits = out.logits[:, :-1, :].float()  # position P-1+t predicts completion token t
    if temperature != 1.0:
        logits = logits / temperature
    if suppress_ids:
        logits[..., suppress_ids] = float("-inf")
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, mb.completion_ids.unsqueeze(-1)).squeeze(-1)
    valid = mb.completion_mask > 0
    logp = torch.where(valid, logp, torch.zeros_like(logp))  # padded rows may hold garbage; never NaN*0
    entropy = None
    if with_entropy:
        with torch.no_grad():
            ent = torch.special.entr(logp_all.exp()).sum(-1)  # 0 * log 0 = 0 for suppressed tokens
            entropy = torch.where(valid, ent, torch.zeros_like(ent))
    return logp, entropy


@torch.no_grad()
def sample_logprobs(model, samples: Sequence[TrainingSample], pad_id: int, temperature: float = 1.0,
                    suppress_ids: list[int] | None = None, micro_batch_size: int = 8,
                    float_dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """Log-probs of each sample's completion (float32 on CPU, one 1-D tensor each), in micro-batches, in
    eval mode: what `LearnerWorker.logprobs` computes, for a model held outside a learner."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    try:
        for s in range(0, len(samples), micro_batch_size):
            chunk = list(samples[s : s + micro_batch_size])
            mb = collate(chunk, pad_id).to(device, float_dtype)
            logp, _ = completion_logprobs(model, mb, temperature, suppress_ids=suppress_ids)
            out.extend(logp[i, : c.completion_ids.shape[0]].float().cpu() for i, c in enumerate(chunk))
    finally:
        model.train(was_training)
    return out
