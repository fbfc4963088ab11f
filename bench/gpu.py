"""GPU check of our own code paths at the size of Qwen2-VL-2B-Instruct (random init, nothing downloaded).

Why: the CPU tests run tiny models in fp32; this measures, on one GPU in bf16, what they cannot:
HF-engine rollout throughput, how far the learner's log-prob recomputation drifts from the engine's
behaviour log-probs (the importance ratio's noise floor), and the time/memory of one GRPO update
(LoRA on q/k/v/o, and full fine-tuning if it fits).

Imports only Ray/DeepSpeed-free modules: `rollout.actor` (RolloutWorker) imports ray at module level,
so the engine is built with `rollout.engine.make_engine`, exactly as RolloutWorker does.

    python bench/gpu.py --tiny      # CPU, seconds
    python bench/gpu.py             # GPU, 2B-sized; JSON also to $OUT/gpu_h100.json

Status: run on CPU with --tiny only; no GPU was lent to the session that wrote it, so it has not run
at full size. A GPU machine without pydantic needs its wheels installed first (pydantic,
pydantic_core, annotated-types, typing-inspection, typing_extensions; `pip install --no-index`).
`make bench` skips this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from radrl_dist.config.schema import ModelConfig, RolloutConfig  # noqa: E402
from radrl_dist.data.phantom import render_study  # noqa: E402
from radrl_dist.data.schema import Study  # noqa: E402
from radrl_dist.grpo import group_advantages, grpo_loss  # noqa: E402
from radrl_dist.learner.batch import Candidate as TrainCandidate  # noqa: E402
from radrl_dist.learner.batch import PromptInputs, collate, plan_step  # noqa: E402
from radrl_dist.learner.engine_setup import is_vision_param, lora_target_regex  # noqa: E402
from radrl_dist.learner.logprobs import completion_logprobs  # noqa: E402
from radrl_dist.models.tiny_vlm import _token_ids, family_classes  # noqa: E402
from radrl_dist.models.tokenizer import train_tiny_tokenizer  # noqa: E402
from radrl_dist.rollout import logprobs as rollout_logprobs  # noqa: E402
from radrl_dist.rollout.engine import make_engine  # noqa: E402
from radrl_dist.rollout.types import RolloutRequest  # noqa: E402

QWEN2_VOCAB = 151936
# (hidden, layers, heads, kv_heads, intermediate, mrope_section) / (depth, embed_dim, heads)
TEXT = {"full": (1536, 28, 12, 2, 8960, [16, 24, 24]), "tiny": (64, 2, 2, 1, 128, [4, 6, 6])}
VISION = {"full": (32, 1280, 16), "tiny": (2, 64, 2)}
GIB = float(1 << 30)


def log(msg: str) -> None:
    print(msg, flush=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_checkpoint(out: Path, size: str, device: str, full_vocab: bool, min_px: int, max_px: int) -> dict:
    """Qwen2-VL at `size`, random bf16 weights, saved with the local tokenizer and image processor."""
    tok = train_tiny_tokenizer(1024)
    config_cls, model_cls, ip_cls = family_classes("qwen2_vl")
    h, layers, heads, kv, inter, section = TEXT[size]
    depth, embed, vheads = VISION[size]
    vocab = QWEN2_VOCAB if full_vocab else len(tok)
    text = dict(vocab_size=vocab, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, hidden_act="silu", max_position_embeddings=32768,
                rms_norm_eps=1e-6, use_sliding_window=False, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
                bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id)
    vision = dict(depth=depth, embed_dim=embed, hidden_size=h, num_heads=vheads, mlp_ratio=4, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, in_channels=3, hidden_act="quick_gelu")
    config = config_cls(text_config=text, vision_config=vision, tie_word_embeddings=True, **_token_ids(tok))
    torch.manual_seed(0)
    with torch.device(device):
        model = model_cls._from_config(config, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for n, p in model.named_parameters() if is_vision_param(n))
    model.save_pretrained(out, safe_serialization=True)
    del model
    tok.save_pretrained(out)
    ip_cls(min_pixels=min_px, max_pixels=max_px, patch_size=14, merge_size=2, temporal_patch_size=2,
           image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(out)
    return {"params": n_params, "vision_params": n_vision, "vocab_size": vocab, "tokenizer_size": len(tok)}


def phantom_requests(img_dir: Path, n: int, wh: tuple[int, int]) -> list[RolloutRequest]:
    reqs = []
    for i in range(n):
        ps = render_study(0, "train", i, image_size=wh)
        path = img_dir / f"phantom{i}.png"
        Image.fromarray(ps.image).save(path)
        reqs.append(RolloutRequest(Study(f"p{i}", [str(path)], "report", reference_report=ps.report), seed=100 + i))
    return reqs


def train_candidates(engine, rolls, rng) -> list[TrainCandidate]:
    """Learner candidates as train/assemble.py builds them (random rewards stand in for the reward pool)."""
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
            out.append(TrainCandidate(prompt=prompt, completion_ids=torch.tensor(c.token_ids, dtype=torch.long),
                                      behaviour_logps=torch.tensor(c.logprobs, dtype=torch.float32),
                                      advantage=float(adv.advantages[gi, ci]), group=gi))
    return out


def diff_stats(pairs: list[tuple[torch.Tensor, torch.Tensor]], tag: str) -> dict:
    d = torch.cat([(a.float() - b.float()).abs() for a, b in pairs])
    ratio = torch.cat([(a.float() - b.float()).exp() for a, b in pairs])
    return {f"logprob_max_abs_diff_{tag}": float(d.max()), f"logprob_mean_abs_diff_{tag}": float(d.mean()),
            f"logprob_p99_abs_diff_{tag}": float(d.quantile(0.99)),
            f"ratio_max_dev_{tag}": float((ratio - 1).abs().max()), f"logprob_tokens_{tag}": int(d.numel())}


def logprob_agreement(model, cands: list[TrainCandidate], pad_id: int, sup: list[int], dtype, dev, mbs: int) -> list:
    """The learner's recomputation (learner/logprobs.py, as LearnerWorker.logprobs calls it)."""
    model.eval()
    pairs = []
    with torch.no_grad():
        for s in range(0, len(cands), mbs):
            chunk = cands[s : s + mbs]
            mb = collate(chunk, pad_id).to(dev, dtype)
            logp, _ = completion_logprobs(model, mb, 1.0, suppress_ids=sup)
            pairs += [(logp[i, : c.completion_ids.shape[0]].float().cpu(), c.behaviour_logps) for i, c in enumerate(chunk)]
    return pairs


def rollout_path_agreement(model, engine, rolls, sup, pad_id, mbs) -> list:
    """The second recomputation, rollout/logprobs.py (same contract; checked so the two cannot drift)."""
    prepared, _ = engine.prepare(rolls["requests"])
    cands = [c for r in rolls["results"] for c in r.candidates]
    idx = {p.study_id: i for i, p in enumerate(prepared)}
    lps = rollout_logprobs.completion_logprobs(
        model, [p.inputs for p in prepared], [c.token_ids for c in cands], prompt_index=[idx[c.study_id] for c in cands],
        suppress_token_ids=sup, micro_batch_size=mbs, pad_token_id=pad_id)
    return [(lp, torch.tensor(c.logprobs)) for lp, c in zip(lps, cands)]


def run_generate(engine, reqs) -> dict:
    sync()
    t0 = time.perf_counter()
    results = engine.generate(reqs)
    sync()
    dt = time.perf_counter() - t0
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"engine failed studies: {bad[:2]}")
    cands = [c for r in results for c in r.candidates]
    return {"requests": reqs, "results": results, "seconds": dt, "tokens": sum(c.num_tokens for c in cands),
            "candidates": len(cands), "stop_frac": float(np.mean([c.finish_reason == "stop" for c in cands]))}


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


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny dims, CPU-friendly (development)")
    ap.add_argument("--studies", type=int, default=None)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--timed-steps", type=int, default=3)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--full-vocab", action="store_true", help="Qwen2 vocab (151936) also with --tiny (default on GPU)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    size = "tiny" if args.tiny else "full"
    on_gpu = torch.cuda.is_available() and not args.tiny
    dev = torch.device("cuda" if on_gpu else "cpu")
    n_studies = args.studies or (2 if args.tiny else 8)
    max_new = args.max_new_tokens or (16 if args.tiny else 128)
    min_px, max_px, wh = (3136, 20480, (128, 160)) if args.tiny else (3136, 262144, (512, 640))
    import peft
    import transformers

    R: dict = {"device": torch.cuda.get_device_name(0) if on_gpu else "cpu", "torch": torch.__version__,
               "transformers": transformers.__version__, "peft": peft.__version__, "size": size,
               "studies": n_studies, "group_size": args.group, "max_new_tokens": max_new, "max_pixels": max_px,
               "image_wh": list(wh), "micro_batch": args.micro_batch, "errors": {}}
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))

    t0 = time.perf_counter()
    R.update(build_checkpoint(work / "model", size, str(dev), full_vocab=on_gpu or args.full_vocab, min_px=min_px, max_px=max_px))
    R["build_s"] = time.perf_counter() - t0
    log(f"built Qwen2-VL {size}: {R['params'] / 1e9:.3f} B params (vision {R['vision_params'] / 1e9:.3f} B), "
        f"vocab {R['vocab_size']} in {R['build_s']:.1f}s")
    if on_gpu:
        torch.cuda.empty_cache()

    rollout = RolloutConfig(engine="hf", group_size=args.group, max_new_tokens=max_new, temperature=1.0, top_p=1.0,
                            gpus_per_actor=1.0 if on_gpu else 0.0)
    mcfg = ModelConfig(family="qwen2_vl", path=str(work / "model"), dtype="bfloat16", attn_implementation="sdpa",
                       min_pixels=min_px, max_pixels=max_px)
    t0 = time.perf_counter()
    engine = make_engine(rollout, mcfg, max_prompt_length=2048, engine_id="hf-gpu-check")
    tok = engine.processor.tokenizer
    pad_id = tok.pad_token_id
    if R["vocab_size"] > len(tok):  # ids past the local tokenizer: never sampled, so the real-size head still runs
        engine.suppress_ids = engine.suppress_ids + list(range(len(tok), R["vocab_size"]))
    sup = engine.suppress_ids
    R["engine_load_s"] = time.perf_counter() - t0
    reqs = phantom_requests(work, n_studies, wh)
    prepared, _ = engine.prepare(reqs[:1])
    R["prompt_tokens"] = int(prepared[0].inputs["input_ids"].shape[1])
    R["image_tokens"] = int((prepared[0].inputs["input_ids"] == tok.convert_tokens_to_ids("<|image_pad|>")).sum())
    log(f"engine loaded in {R['engine_load_s']:.1f}s; prompt {R['prompt_tokens']} tokens ({R['image_tokens']} image)")

    # 1. rollout throughput (warm-up on one engine chunk, then the timed batch)
    run_generate(engine, reqs[: min(4, n_studies)])
    rolls = run_generate(engine, reqs)
    R.update(gen_s=rolls["seconds"], gen_tokens=rolls["tokens"], candidates=rolls["candidates"],
             tokens_per_s=rolls["tokens"] / rolls["seconds"], candidates_per_s=rolls["candidates"] / rolls["seconds"],
             finish_stop_frac=rolls["stop_frac"])
    log(f"rollout: {rolls['candidates']} candidates, {rolls['tokens']} tokens in {rolls['seconds']:.2f}s -> "
        f"{R['tokens_per_s']:.0f} tok/s, {R['candidates_per_s']:.2f} cand/s")
    R["max_sampled_id"] = max(t for r in rolls["results"] for c in r.candidates for t in c.token_ids)
    if R["max_sampled_id"] >= len(tok):
        R["errors"]["sampling"] = f"sampled id {R['max_sampled_id']} outside the tokenizer ({len(tok)})"
    rng = np.random.default_rng(0)
    cands = train_candidates(engine, rolls, rng)

    # 2. log-prob agreement, bf16: learner recomputation vs engine behaviour log-probs
    try:
        R.update(diff_stats(logprob_agreement(engine.model, cands, pad_id, sup, torch.bfloat16, dev, args.micro_batch), "bf16"))
        R.update({k.replace("bf16", "bf16_rollout_fn"): v for k, v in diff_stats(
            rollout_path_agreement(engine.model, engine, rolls, sup, pad_id, args.micro_batch), "bf16").items()})
        log(f"bf16 log-prob |learner - engine|: max {R['logprob_max_abs_diff_bf16']:.4f}, "
            f"mean {R['logprob_mean_abs_diff_bf16']:.5f}, p99 {R['logprob_p99_abs_diff_bf16']:.4f}")
    except Exception as exc:  # noqa: BLE001 - report and go on to the next figure
        R["errors"]["logprob_bf16"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()

    # 3. the same in fp32 (engine regenerates in fp32 so both sides are fp32)
    try:
        engine.model.float()
        n32 = min(4, n_studies)
        rolls32 = run_generate(engine, reqs[:n32])
        c32 = train_candidates(engine, rolls32, rng)
        R.update(diff_stats(logprob_agreement(engine.model, c32, pad_id, sup, torch.float32, dev, args.micro_batch), "fp32"))
        R["fp32_tokens_per_s"] = rolls32["tokens"] / rolls32["seconds"]
        log(f"fp32 log-prob |learner - engine|: max {R['logprob_max_abs_diff_fp32']:.6f}, "
            f"mean {R['logprob_mean_abs_diff_fp32']:.7f} ({n32} studies)")
    except Exception as exc:  # noqa: BLE001
        R["errors"]["logprob_fp32"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    engine.model.to(torch.bfloat16)
    if on_gpu:
        torch.cuda.empty_cache()

    # 4. GRPO update with LoRA r=16 on q,k,v,o of the language model
    plan = plan_step(cands, world=1, micro_batch_size=args.micro_batch)[0]
    R["micro_batches_per_step"] = sum(len(u.micro_batches) for u in plan)
    from peft import LoraConfig, get_peft_model

    model = engine.model
    model.config.use_cache = False
    policy = None
    try:
        torch.manual_seed(0)
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                          target_modules=lora_target_regex(["q_proj", "k_proj", "v_proj", "o_proj"], include_vision=False))
        policy = get_peft_model(model, lora)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        s = grpo_steps(policy, trainable, plan, pad_id, sup, dev, torch.bfloat16, False, args.timed_steps)
        R.update(lora_step_s=s["step_s"], lora_step_s_all=s["step_s_all"], lora_peak_gib=s["peak_gib"],
                 lora_trainable_params=s["trainable_params"], lora_losses=s["loss"])
        log(f"LoRA GRPO step: {s['step_s']:.3f}s (of {s['step_s_all']}), peak {s['peak_gib']} GiB, "
            f"{s['trainable_params']} trainable")
        model = policy.unload()
    except Exception as exc:  # noqa: BLE001
        R["errors"]["lora"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    del policy
    if on_gpu:
        torch.cuda.empty_cache()

    # 5. full fine-tune: fp32 params + fp32 AdamW, bf16 autocast (memory ~ DeepSpeed bf16 with fp32 master)
    R["full_mode"] = "fp32 params/grads/AdamW, bf16 autocast, vision frozen"
    R["full_step_s"] = None
    if not args.skip_full:
        try:
            model.float()
            for n, p in model.named_parameters():
                p.requires_grad_(not is_vision_param(n))
            trainable = [p for p in model.parameters() if p.requires_grad]
            s = grpo_steps(model, trainable, plan, pad_id, sup, dev, torch.float32, True, args.timed_steps)
            R.update(full_step_s=s["step_s"], full_step_s_all=s["step_s_all"], full_peak_gib=s["peak_gib"],
                     full_trainable_params=s["trainable_params"], full_losses=s["loss"])
            log(f"full GRPO step: {s['step_s']:.3f}s (of {s['step_s_all']}), peak {s['peak_gib']} GiB")
        except torch.cuda.OutOfMemoryError as exc:
            R["errors"]["full"] = f"OOM: {str(exc)[:300]}"
        except Exception as exc:  # noqa: BLE001
            R["errors"]["full"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    R["total_s"] = time.perf_counter() - t_start
    return R


if __name__ == "__main__":
    result = main()
    line = json.dumps(result, default=float)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_h100.json").write_text(line + "\n")
    print(line)
