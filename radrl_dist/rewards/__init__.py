"""Rewards as pure functions (DESIGN 3): label rewards (MCCS, CCS, CE-F1), format rewards and the
answer extractor, grounding (IoU soft-F1), NLG (nlg.py), and the composite that routes by task.
No Ray here: the reward pool hosts these in its actors."""

from radrl_dist.rewards.composite import CompositeResult, CompositeReward, CompositeSpec, RewardBatch
from radrl_dist.rewards.registry import get_reward, known_rewards, register_reward

__all__ = ["CompositeResult", "CompositeReward", "CompositeSpec", "RewardBatch", "get_reward", "known_rewards",
           "register_reward"]
