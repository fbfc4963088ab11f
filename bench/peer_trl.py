"""Peer comparison on CPU: the same GRPO job through trl's GRPOTrainer and through radrl_dist.

Both sides: the tiny Qwen2-VL (image + the same chat prompt), phantom report studies, 4 studies per
step, G=4, 24 new tokens at temperature 1.0, LoRA r16/alpha32 on the same language-model modules,
beta 0.04 (reference = adapter disabled), one AdamW update per step at lr 2e-3 (cosine, clip 1.0),
one micro-batch of 16 completions, reward = MCCS of the rule labeller against the study's labels.
The first `--warmup` steps of each side are left out of steps/s.

Threads: Ray gives each radrl_dist actor (0.5 CPU) OMP_NUM_THREADS=1, so its rollout, reward and
learner each run torch on one thread, one after the other in the synchronous loop. trl runs in this
process with torch's default (one thread per core). trl is therefore run twice: with one torch
thread (matched; the headline `radrl_vs_trl`) and with torch's default (`..._default_threads`).
On a loaded machine the default can be far slower than one thread (OpenMP threads wait on each other).

Where the time goes:
- radrl_dist: rollout / reward / learn / export / sync seconds per step from metrics.jsonl; the rest
  of the step is the driver's own work. Rollout, reward and learner are separate Ray actors.
- trl: everything runs in this process; its `_generate`, `_calculate_rewards` and
  `_generate_and_score_completions` are timed by wrapping them (trl only reports its own profiling
  to wandb/mlflow), so "logprobs" = the reference/old log-prob passes and padding work inside
  generate-and-score, and "learn" = forward/backward + optimizer step.

Usage: python bench/peer_trl.py [--steps 10] [--warmup 2] [--studies 4] [--group-size 4] [--max-new-tokens 24]
Needs trl: pip install -r requirements/bench.txt. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench._tiny_grpo_job import (add_job_args, job_overrides, mean, mccs_reward_fn, require_trl,  # noqa: E402
                                  run_job, trl_lora, trl_rows)

STAGES = ("rollout", "reward", "learn", "export", "sync")
LORA_R, LORA_ALPHA, BETA, LR = 16, 32, 0.04, 2e-3
MATCHED_THREADS = 1  # what Ray sets (OMP_NUM_THREADS) in an actor with num_cpus < 1
TRL_KEYS = ("step", "generate", "reward", "logprobs", "learn")


def radrl_overrides(out: Path, args: argparse.Namespace) -> list[str]:
    return job_overrides(out, args, "radrl-bench-peer-trl") + [
        "rollout.temperature=1.0", f"learner.lora.r={LORA_R}", f"learner.lora.alpha={LORA_ALPHA}", f"learner.lr={LR}",
        f"grpo.beta={BETA}", f"learner.micro_batch_size={args.studies * args.group_size}", "learner.updates_per_step=1",
        "reward.weights={report: {mccs: 1.0}}", "async.max_staleness=0",
    ]


def run_radrl(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], float]:
    """Per-step metric rows after warm-up, and the seconds from start to the end of the run."""
    import ray

    t0 = time.perf_counter()
    rows = run_job(radrl_overrides(tmp / "radrl", args), tmp / "radrl", args.warmup)
    wall = time.perf_counter() - t0
    ray.shutdown()
    return rows, wall


def trl_dataset(args: argparse.Namespace):
    """The phantom train studies (64, as the radrl side's job) as trl rows."""
    from datasets import Dataset  # lazy: a bench-only dependency (requirements/bench.txt)

    from radrl_dist.config.schema import DataConfig, PhantomSpec
    from radrl_dist.data.reader import read_studies
    from radrl_dist.runtime.data_setup import resolve_data

    spec = PhantomSpec(n_train=64, n_eval=4, cache_dir=str(REPO / "cache" / "phantom"))
    paths = resolve_data(DataConfig(phantom=spec))
    return Dataset.from_list(trl_rows(read_studies(paths.train, split=paths.train_split, tasks=["report"])))


def timed(obj, name: str, sink: dict[str, float]) -> None:
    """Wrap obj.name so its seconds add up in sink[name] (reset by the step callback)."""
    fn = getattr(obj, name)

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            sink[name] = sink.get(name, 0.0) + time.perf_counter() - t

    setattr(obj, name, wrapper)


def run_trl(args: argparse.Namespace, tmp: Path, threads: int) -> tuple[list[dict], float]:
    import torch
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from radrl_dist.config.schema import ModelConfig, TinyModelSpec
    from radrl_dist.models.loading import load_policy, load_processor, resolve_model_path

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    mc = ModelConfig(tiny=TinyModelSpec(cache_dir=str(REPO / "cache" / "tiny_models")))
    path = resolve_model_path(mc)
    processor = load_processor(path, mc.min_pixels, mc.max_pixels)
    model = load_policy(path, mc.dtype, mc.attn_implementation)
    n = args.studies * args.group_size
    cfg = GRPOConfig(
        output_dir=str(tmp / f"trl{threads}"), max_steps=args.steps, per_device_train_batch_size=n, gradient_accumulation_steps=1,
        num_generations=args.group_size, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
        learning_rate=LR, lr_scheduler_type="cosine", warmup_steps=0, adam_beta2=0.99, weight_decay=0.0,
        max_grad_norm=1.0, beta=BETA, epsilon=0.2, epsilon_high=0.28, loss_type="dapo", num_iterations=1,
        use_vllm=False, bf16=False, fp16=False, use_cpu=True, gradient_checkpointing=False, report_to="none",
        save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, dataloader_num_workers=0,
    )
    lora = trl_lora(LORA_R, LORA_ALPHA)
    trainer = GRPOTrainer(model=model, reward_funcs=mccs_reward_fn(), args=cfg, train_dataset=trl_dataset(args),
                          processing_class=processor, peft_config=lora)
    stage: dict[str, float] = {}
    for name in ("_generate", "_calculate_rewards", "_generate_and_score_completions"):
        timed(trainer, name, stage)
    steps: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            stage.clear()
            stage["_t"] = time.perf_counter()

        def on_step_end(self, *_, **__):
            total = time.perf_counter() - stage.pop("_t")
            gen, rew = stage.get("_generate", 0.0), stage.get("_calculate_rewards", 0.0)
            gas = stage.get("_generate_and_score_completions", 0.0)
            steps.append({"step": total, "generate": gen, "reward": rew, "logprobs": gas - gen - rew, "learn": total - gas})

    trainer.add_callback(StepTimer())
    trainer.remove_callback(PrinterCallback)  # per-step log dicts; the figures are printed below
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    wall = time.perf_counter() - t0
    if rewards:
        print(f"trl ({threads} thread(s)) mean reward over steps: {statistics.fmean(rewards):.3f}")
    return steps[args.warmup:], wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_args(ap)
    args = ap.parse_args()
    if args.steps <= args.warmup:
        raise SystemExit(f"--steps ({args.steps}) must exceed --warmup ({args.warmup})")
    trl_version = require_trl()
    import torch

    default_threads = torch.get_num_threads()
    tmp = Path(tempfile.mkdtemp(prefix="radrl_bench_peer_trl_"))
    trl_runs = {n: run_trl(args, tmp, n) for n in dict.fromkeys((MATCHED_THREADS, default_threads))}
    torch.set_num_threads(default_threads)
    r_rows, r_wall = run_radrl(args, tmp)

    r = {s: mean(r_rows, lambda x, s=s: x[f"time/{s}_s"]) for s in STAGES}
    r["step"] = mean(r_rows, lambda x: x["time/step_s"])
    r["driver"] = r["step"] - sum(r[s] for s in STAGES)
    print(f"radrl mean reward over measured steps: {mean(r_rows, lambda x: x['reward/mean']):.3f}")
    print("radrl_dist (actors 1 thread each) s/step: " + "  ".join(f"{k} {v:.3f}" for k, v in r.items())
          + f"   (whole run {r_wall:.1f} s)")
    trl: dict[int, dict[str, float]] = {}
    for n, (rows, wall) in trl_runs.items():
        if len(rows) != len(r_rows):
            raise SystemExit(f"measured steps differ: radrl {len(r_rows)}, trl ({n} threads) {len(rows)}")
        trl[n] = {k: mean(rows, lambda x, k=k: x[k]) for k in TRL_KEYS}
        print(f"trl        ({n} thread(s))    s/step: " + "  ".join(f"{k} {v:.3f}" for k, v in trl[n].items())
              + f"   (whole run {wall:.1f} s)")
    for n, t in trl.items():
        ratio = t["step"] / r["step"]
        print(f"steps/s: radrl_dist {1 / r['step']:.3f}, trl with {n} thread(s) {1 / t['step']:.3f}; "
              f"radrl_dist / trl = {ratio:.3f} over {len(r_rows)} steps after {args.warmup} warm-up")
    m, d = trl[MATCHED_THREADS], trl[default_threads]
    print(json.dumps({
        "radrl_steps_per_s": round(1 / r["step"], 4), "trl_steps_per_s": round(1 / m["step"], 4),
        "radrl_vs_trl": round(m["step"] / r["step"], 4),
        "trl_default_threads_steps_per_s": round(1 / d["step"], 4),
        "radrl_vs_trl_default_threads": round(d["step"] / r["step"], 4),
        **{f"radrl_{k}_s": round(v, 4) for k, v in r.items()},
        **{f"trl_{k}_s": round(v, 4) for k, v in m.items()},
        **{f"trl_default_threads_{k}_s": round(v, 4) for k, v in d.items()},
        "radrl_run_wall_s": round(r_wall, 1), **{f"trl_{n}thread_run_wall_s": round(w, 1) for n, (_, w) in trl_runs.items()},
        "settings": {"trl_version": trl_version, "modality": "image+text", "steps": args.steps, "warmup": args.warmup,
                     "studies_per_step": args.studies, "group_size": args.group_size,
                     "max_new_tokens": args.max_new_tokens, "temperature": 1.0, "lora_r": LORA_R,
                     "lora_alpha": LORA_ALPHA, "beta": BETA, "lr": LR, "updates_per_step": 1, "reward": "mccs(rules)",
                     "trl_threads": MATCHED_THREADS, "trl_default_threads": default_threads,
                     "radrl_actor_threads": MATCHED_THREADS},
    }))


if __name__ == "__main__":
    main()
