"""GRPO as pure tensor functions (DESIGN section 4): advantages and the clipped-surrogate loss.

Nothing here knows about Ray, DeepSpeed or models, so each option is tested against a float64
re-derivation on random tensors (tests/grpo).
"""

from radrl_dist.grpo.advantages import GroupAdvantages, group_advantages
from radrl_dist.grpo.loss import LossNormaliser, grpo_loss, merge_loss_stats

__all__ = ["GroupAdvantages", "LossNormaliser", "group_advantages", "grpo_loss", "merge_loss_stats"]
