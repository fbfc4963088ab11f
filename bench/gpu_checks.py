"""bench/gpu.py's in-process checks on the HF engine's model: log-prob agreement and plain GRPO steps.

Why apart: gpu.py orchestrates; these are the figures that need the engine's live model (no DeepSpeed):
how far the learner's log-prob recomputation drifts from the engine's behaviour log-probs in bf16 and
fp32, and a plain-PyTorch GRPO update (LoRA on q/k/v/o, full fine-tuning) to set beside LearnerWorker's.
"""

from __future__ import annotations

import time
import traceback
from contextlib import nullcontext

import numpy as np
import torch

from bench.gpu_jobs import GIB, log, run_generate, sync
from radrl_dist.grpo import group_advantages, grpo_loss
from radrl_dist.learner.batch import TrainingSample, collate
from radrl_dist.learner.engine_setup import is_vision_param, lora_target_regex
from radrl_dist.learner.logprobs import completion_logprobs, sample_logprobs
from radrl_dist.models.prompt_inputs import PromptInputs


def train_candidates(engine, rolls, rng) -> list[TrainingSample]:
    """Training samples as the learner ranks build them from a rollout hand-off (random rewards stand in
    for the reward pool)."""
    prepared, _ = engine.prepare([r for r in rolls["requests"]])
    prompts = {p.study_id: PromptInputs.from_processor(p.inputs) for p in prepared}
    groups = [r for r in rolls["results"] if r.ok]
    adv = group_advantages(torch.as_tensor(rng.random((len(groups), len(groups[0].candidates)))))
    out = []
    for gi, g in enumerate(groups):
        prompt = prompts[g.study_id]
        if prompt.input_ids.tolist() != list(g.candidates[0].prompt_token_ids):
            raise RuntimeError(f"{g.study_id}: learner prompt tokens differ from the engine's")
        for ci, c in enumerate(g.candidates):
            out.append(TrainingSample(prompt=prompt, completion_ids=torch.tensor(c.token_ids, dtype=torch.long),
                                      behaviour_logps=torch.tensor(c.logprobs, dtype=torch.float32),
                                      advantage=float(adv.advantages[gi, ci]), group=gi))
    return out


def diff_stats(pairs: list[tuple[torch.Tensor, torch.Tensor]], tag: str) -> dict:
    d = torch.cat([(a.float() - b.float()).abs() for a, b in pairs])
    ratio = torch.cat([(a.float() - b.float()).exp() for a, b in pairs])
    return {f"logprob_max_abs_diff_{tag}": float(d.max()), f"logprob_mean_abs_diff_{tag}": float(d.mean()),
            f"logprob_p99_abs_diff_{tag}": float(d.quantile(0.99)),
            f"ratio_max_dev_{tag}": float((ratio - 1).abs().max()), f"logprob_tokens_{tag}": int(d.numel())}


def logprob_agreement(model, cands: list[TrainingSample], pad_id: int, sup: list[int], dtype, dev, mbs: int) -> list:
    """The learner's recomputation (learner/logprobs.py, the one every log-prob pass uses) vs the engine's."""
    lps = sample_logprobs(model, cands, pad_id, suppress_ids=sup, micro_batch_size=mbs, float_dtype=dtype)
    return [(lp, c.behaviour_logps) for lp, c in zip(lps, cands)]


def grpo_steps(policy, trainable, plan, pad_id, sup, dev, dtype, autocast: bool, n_timed: int) -> dict:
    """Warm-up + n_timed optimizer updates of the learner's GRPO micro-batch loop (no DeepSpeed)."""
    opt = torch.optim.AdamW(trainable, lr=1e-6, betas=(0.9, 0.99))
    policy.train()
    ctx = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if autocast else nullcontext
    times, losses = [], []
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for k in range(1 + n_timed):
        sync()
        t0 = time.perf_counter()
        for upd in plan:
            loss_sum = 0.0
            for cands in upd.micro_batches:
                mb = collate(cands, pad_id).to(dev, dtype)
                with ctx():
                    logp, ent = completion_logprobs(policy, mb, 1.0, with_entropy=True, suppress_ids=sup)
                loss, stats = grpo_loss(logp, mb.behaviour_logps, mb.advantages, mb.completion_mask, upd.norm,
                                        entropy=ent, beta=0.0, clip_low=0.2, clip_high=0.28)
                loss.backward()
                loss_sum += stats["loss"]
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        sync()
        if k:
            times.append(time.perf_counter() - t0)
        losses.append(loss_sum)
    peak = torch.cuda.max_memory_allocated() / GIB if torch.cuda.is_available() else None
    del opt
    return {"step_s": float(np.mean(times)), "step_s_all": [round(t, 4) for t in times], "peak_gib": peak,
            "loss": losses, "trainable_params": sum(p.numel() for p in trainable)}


def logprob_sections(R, engine, rolls, cands, reqs, rng, pad_id, sup, dev, mbs: int, n_studies: int) -> None:
    """bf16: learner recomputation vs engine behaviour log-probs; fp32: the engine regenerates in fp32."""
    try:
        R.update(diff_stats(logprob_agreement(engine.model, cands, pad_id, sup, torch.bfloat16, dev, mbs), "bf16"))
        log(f"bf16 log-prob |learner - engine|: max {R['logprob_max_abs_diff_bf16']:.4f}, "
            f"mean {R['logprob_mean_abs_diff_bf16']:.5f}, p99 {R['logprob_p99_abs_diff_bf16']:.4f}")
    except Exception as exc:  # noqa: BLE001 - report and go on to the next figure
        R["errors"]["logprob_bf16"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    try:
        engine.model.float()
        n32 = min(4, n_studies)
        rolls32 = run_generate(engine, reqs[:n32])
        c32 = train_candidates(engine, rolls32, rng)
        R.update(diff_stats(logprob_agreement(engine.model, c32, pad_id, sup, torch.float32, dev, mbs), "fp32"))
        R["fp32_tokens_per_s"] = rolls32["tokens"] / rolls32["seconds"]
        log(f"fp32 log-prob |learner - engine|: max {R['logprob_max_abs_diff_fp32']:.6f}, "
            f"mean {R['logprob_mean_abs_diff_fp32']:.7f} ({n32} studies)")
    except Exception as exc:  # noqa: BLE001
        R["errors"]["logprob_fp32"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    engine.model.to(torch.bfloat16)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def plain_grpo_sections(R, model, plan, pad_id, sup, dev, timed: int, skip_full: bool) -> None:
    """GRPO updates in plain PyTorch (no DeepSpeed): LoRA r=16 on q,k,v,o, then full fine-tuning."""
    from peft import LoraConfig, get_peft_model

    model.config.use_cache = False
    policy = None
    try:
        torch.manual_seed(0)
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                          target_modules=lora_target_regex(["q_proj", "k_proj", "v_proj", "o_proj"], include_vision=False))
        policy = get_peft_model(model, lora)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        s = grpo_steps(policy, trainable, plan, pad_id, sup, dev, torch.bfloat16, False, timed)
        R.update(lora_step_s=s["step_s"], lora_step_s_all=s["step_s_all"], lora_peak_gib=s["peak_gib"],
                 lora_trainable_params=s["trainable_params"], lora_losses=s["loss"])
        log(f"plain LoRA GRPO step: {s['step_s']:.3f}s (of {s['step_s_all']}), peak {s['peak_gib']} GiB, "
            f"{s['trainable_params']} trainable")
        model = policy.unload()
    except Exception as exc:  # noqa: BLE001
        R["errors"]["lora"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    del policy
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    # fp32 params + fp32 AdamW, bf16 autocast (memory ~ DeepSpeed bf16 with fp32 master)
    R["full_mode"] = "fp32 params/grads/AdamW, bf16 autocast, vision frozen"
    R["full_step_s"] = None
    if skip_full:
        return
    try:
        model.float()
        for n, p in model.named_parameters():
            p.requires_grad_(not is_vision_param(n))
        trainable = [p for p in model.parameters() if p.requires_grad]
        s = grpo_steps(model, trainable, plan, pad_id, sup, dev, torch.float32, True, timed)
        R.update(full_step_s=s["step_s"], full_step_s_all=s["step_s_all"], full_peak_gib=s["peak_gib"],
                 full_trainable_params=s["trainable_params"], full_losses=s["loss"])
        log(f"plain full GRPO step: {s['step_s']:.3f}s (of {s['step_s_all']}), peak {s['peak_gib']} GiB")
    except torch.cuda.OutOfMemoryError as exc:
        R["errors"]["full"] = f"OOM: {str(exc)[:300]}"
    except Exception as exc:  # noqa: BLE001
        R["errors"]["full"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
