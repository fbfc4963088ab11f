"""Shrink any recipe config to a tiny CPU run of the same shape (same family, tasks, formats, rewards,
LoRA/full choice, ZeRO stage) so `make recipe-smoke` keeps every recipe runnable without GPUs or data.
"""

from __future__ import annotations

from pathlib import Path


def smoke_overrides(work_dir: str | Path, steps: int = 2) -> list[str]:
    w = Path(work_dir)
    return [
        "model.path=null", "model.dtype=float32", "model.attn_implementation=sdpa",
        "model.min_pixels=3136", "model.max_pixels=20480", f"model.tiny.cache_dir={w / 'tiny'}",
        "data.train_path=null", "data.eval_path=null",
        f"data.phantom={{n_train: 8, n_eval: 4, seed: 0, image_size: [128, 160], cache_dir: {w / 'phantom'}}}",
        "data.studies_per_step=2", "data.max_prompt_length=512",
        "rollout.engine=hf", "rollout.num_actors=1", "rollout.gpus_per_actor=0", "rollout.tensor_parallel_size=1",
        "rollout.group_size=2", "rollout.max_new_tokens=12",
        "reward.labeler=rules", "reward.num_actors=1", "reward.gpus_per_actor=0",
        # model-based rewards (used only where the weights name them): tiny random stand-ins
        f"reward.model_rewards.tiny_dir={w / 'tiny'}", "reward.model_rewards.radgraph=lexicon",
        "learner.num_workers=1", "learner.gpus_per_worker=0", "learner.micro_batch_size=4",
        "cluster.num_cpus=4", "cluster.colocate=false",
        f"train.steps={steps}", "train.eval_studies=2", "train.eval_every=0", "train.warm_start_sft=false",
        f"sft.steps={steps}", "sft.studies_per_step=2", "sft.eval_every=0", "sft.eval_studies=2",
        f"sft.output_dir={w / 'sft'}",
        f"logging.output_dir={w / 'run'}", "logging.tensorboard=false", "logging.progress=false",
        "checkpoint.every_n_steps=0", "checkpoint.resume=never",
    ]
