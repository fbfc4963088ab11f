"""Model-based report scorers (DESIGN 3): BERTScore, CheXbert [CLS] cosine ("s_emb"), RadGraph F1,
RadCliQ-v1 and GLEU, each `score(candidates, references) -> float64[N]` plus `score_parts` for logs.

Weights come only from local paths (`reward.model_rewards` in the config); nothing is downloaded.
`build_scorer(name, params)` (factory.py) is the one place a config becomes a scorer; the reward
components that the composite weights (`bertscore`, `chexbert_cosine`, `radgraph_f1`,
`neg_radcliq`) live in components.py and run either in-process or inside the reward pool's actors.
Importing this package does not import torch.
"""

from radrl_dist.rewards.model_based.base import PairScorer
from radrl_dist.rewards.model_based.factory import MODEL_COMPONENTS, build_scorer

__all__ = ["MODEL_COMPONENTS", "PairScorer", "build_scorer"]
