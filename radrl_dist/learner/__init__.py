"""The learner (DESIGN sections 4-5): K DeepSpeed ranks as Ray actors, the GRPO update, weight export.

batch.py        training batch format (TrainingSample -> padded MicroBatch) and the per-rank step plan
logprobs.py     per-token log-probs of completions, the one function every log-prob pass uses
engine_setup.py DeepSpeed config, LoRA/full fine-tuning, AdamW + cosine schedule, CPU env
worker.py       LearnerWorker (Ray actor, one rank)      group.py  LearnerGroup (K ranks, one gloo/NCCL group)
export.py       ZeRO-3-aware gather of lora/full/merged weights      checkpoint.py  resume state, PEFT adapter
hf_export.py    merged weights -> an HF checkpoint dir (SFT's output, a GRPO run's final model)
Import the Ray parts from their modules (`from radrl_dist.learner.group import LearnerGroup`).
"""

from radrl_dist.learner.batch import MicroBatch, TrainingSample, collate, plan_step
from radrl_dist.learner.logprobs import completion_logprobs

__all__ = ["MicroBatch", "TrainingSample", "collate", "completion_logprobs", "plan_step"]
