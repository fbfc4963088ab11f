"""Per-token log-probs of sampled completions under a model, with the processor inputs the engine saw.

Pure function of (model, micro-batch): the learner's training forward, its reference pass and any
consistency check against a rollout engine all go through here. Logits are divided by the sampling
temperature so the importance ratio compares like with like (the behaviour log-probs come from the
tempered distribution).
"""

from __future__ import annotations

import torch

from radrl_dist.learner.batch import MicroBatch


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
