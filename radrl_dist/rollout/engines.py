"""Which engine a config names: the one place that knows every RolloutEngine implementation.

Apart from engine.py (the interface) because both engines import that interface; a factory inside it
would import them back.
"""

from __future__ import annotations

from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.rollout.engine import RolloutEngine
from radrl_dist.rollout.hf_engine import HFEngine
from radrl_dist.rollout.vllm_engine import VLLMEngine


def make_engine(rollout: RolloutConfig, model: ModelConfig, max_prompt_length: int, engine_id: str = "engine-0") -> RolloutEngine:
    """The engine named by `rollout.engine` (vLLM itself is imported only when a VLLMEngine is built)."""
    if rollout.engine == "hf":
        return HFEngine(rollout, model, max_prompt_length, engine_id)
    if rollout.engine == "vllm":
        return VLLMEngine(rollout, model, max_prompt_length, engine_id)
    raise ValueError(f"rollout.engine must be 'hf' or 'vllm', got {rollout.engine!r}")
