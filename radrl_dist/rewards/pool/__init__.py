"""Reward pool (DESIGN 1, 3, 6): a named router actor in front of M labeller actors.

    pool = RewardPool.create(cfg.reward)                  # or RewardPool.connect(name, namespace)
    results = pool.score([ScoreRequest(id, task, text, reference_text=...), ...])
    pool.swap("chexbert:/ckpt/chexbert.pth")             # hot swap; also add / drain / status

Operators: `python -m radrl_dist.rewards.pool --address HOST:PORT status|add|drain|swap ...`.
"""

from radrl_dist.rewards.pool.client import DEFAULT_NAME, DEFAULT_NAMESPACE, RewardPool
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import RewardPoolError, RouterLostError, ScoreRequest, ScoreResult, SwapError

__all__ = ["DEFAULT_NAME", "DEFAULT_NAMESPACE", "PoolSettings", "RewardPool", "RewardPoolError", "RouterLostError",
           "ScoreRequest", "ScoreResult", "SwapError"]
