"""What a learner rank builds before training: the DeepSpeed config, the policy with LoRA or full
fine-tuning, the optimizer and the LR schedule, and the reference policy.

Kept apart from the Ray actor so each piece can be read (and reasoned about) on its own.
"""

from __future__ import annotations

import math
import os

import torch
from peft import LoraConfig, get_peft_model

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.models.families import FamilySpec, all_vision_modules, get_family


def prepare_cpu_deepspeed_env() -> None:
    """Environment for DeepSpeed on CPU, set before `import deepspeed`.

    DeepSpeed's torch backend JIT-compiles a shared-memory collective op (`deepspeed_shm_comm`) on
    its first `init_distributed` (~50 s alone, minutes on a loaded 2-core machine). That op only
    serves `inference_all_reduce` (AutoTP inference layers); ZeRO training never calls it and uses
    gloo collectives. So the learner marks it unavailable, exactly as DeepSpeed does on a platform
    where it cannot build. Set RADRL_DS_SHM_COMM=1 to build and load it anyway (cached afterwards in
    TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions).
    """
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if os.environ.get("RADRL_DS_SHM_COMM") == "1":
        return
    import deepspeed.ops  # lazy: deepspeed, only on a learner rank that builds its engine

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False  # the dict is cached; edits persist


def ds_config(cfg: RadRLConfig, on_gpu: bool) -> dict:
    """DeepSpeed config: ZeRO stage, bf16 on GPU (fp32 on CPU), clipping, caller-owned accumulation.

    `managed_gradient_accumulation: false` makes `engine.step()` the accumulation boundary, so an
    update may span however many micro-batches the rollout batch needs (no divisibility rules).
    """
    lc = cfg.learner
    zero: dict = {"stage": lc.zero_stage}
    if lc.zero_stage >= 1:
        zero.update(overlap_comm=False, contiguous_gradients=True)
    if lc.zero_stage == 3:
        zero.update(stage3_param_persistence_threshold=0, stage3_gather_16bit_weights_on_model_save=False)
    return {
        "train_micro_batch_size_per_gpu": lc.micro_batch_size,
        "gradient_accumulation_steps": lc.gradient_accumulation,
        "gradient_clipping": lc.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": bool(on_gpu)},
        "managed_gradient_accumulation": False,
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def lr_multiplier(schedule: str, total_updates: int, warmup_ratio: float):
    """LR multiplier: linear warm-up over warmup_ratio * total, then cosine to 0 at `total_updates`
    (TRL's and MRG-R1's schedule) or constant (verl's actor default, `warmup_style: constant`)."""
    warm = int(round(warmup_ratio * total_updates))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total_updates - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def _vision_modules(family: str | FamilySpec | None) -> tuple[str, ...]:
    """The family's vision-tower module names; every registered family's when none is given."""
    return get_family(family).vision_modules if family is not None else all_vision_modules()


def lora_target_regex(target_modules: list[str], include_vision: bool, family: str | FamilySpec | None = None) -> str:
    """peft `target_modules` regex: the named projections, in the language model only unless the
    vision tower (the family spec's vision modules) is trainable."""
    alts = "|".join(sorted(set(target_modules)))
    not_vision = r"^(?!.*\b(?:" + "|".join(_vision_modules(family)) + r")\b)"
    return ("" if include_vision else not_vision) + rf".*\.(?:{alts})$"


def build_policy(model, cfg: RadRLConfig):
    """Apply LoRA (peft) or full fine-tuning to `model`; returns (policy, trainable named params)."""
    lc = cfg.learner
    if lc.lora.enabled:
        lora = LoraConfig(
            r=lc.lora.r, lora_alpha=lc.lora.alpha, lora_dropout=lc.lora.dropout,
            target_modules=lora_target_regex(lc.lora.target_modules, include_vision=not lc.freeze_vision,
                                             family=cfg.model.family),
        )
        torch.manual_seed(cfg.train.seed)  # identical adapter init on every rank
        model = get_peft_model(model, lora)
    else:
        for name, p in model.named_parameters():
            p.requires_grad_(not (lc.freeze_vision and is_vision_param(name, cfg.model.family)))
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("learner: no trainable parameter (check learner.lora.target_modules against the model)")
    return model, trainable


def is_vision_param(name: str, family: str | FamilySpec | None = None) -> bool:
    """A vision-tower (or projector) parameter of `family`; of any registered family when none is given."""
    dotted = f".{name}."
    return any(f".{m}." in dotted for m in _vision_modules(family))


def build_optimizer(trainable, cfg: RadRLConfig, total_updates: int):
    """torch AdamW as DeepSpeed's client optimizer (no compiled op) and its warm-up + cosine/constant schedule."""
    lc = cfg.learner
    opt = torch.optim.AdamW([p for _, p in trainable], lr=lc.lr, betas=tuple(lc.betas), weight_decay=lc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(lc.lr_schedule, total_updates, lc.warmup_ratio))
    return opt, sched
