"""Parity with TRL: does radrl_dist's distributed GRPO learn what trl's GRPOTrainer learns?

Both sides train the report task from ONE SFT checkpoint (the report demo's warm start: 100 SFT steps
on the demo's 256 phantom studies, made once by `python -m radrl_dist.sft`) with the same job: the same
studies in the same order per seed (radrl's sampler with `data.shuffle_seed=S`; trl is fed that order
with `shuffle_dataset=False`), the same chat prompt and image (checked token for token), G, new tokens,
temperature, LoRA (r, alpha, modules), learning rate and cosine schedule, Adam betas, grad clip, beta,
KL estimator, clip range, one optimizer step per batch, reward (MCCS of the rule labeller on the
whole completion). radrl_dist runs its real Ray path in sync mode (`python -m radrl_dist.train`:
rollout actor, reward pool, DeepSpeed learner, weight sync); trl runs GRPOTrainer in this process.
The algorithm knobs are aligned explicitly (ALIGNMENT below; the table is printed).

Each final policy and the SFT policy (START) are scored by ONE evaluator, the same for both sides:
radrl's HF engine in this process samples `--heldout-samples` reports (temperature 1.0) for each of
the first `--heldout` held-out studies, MCCS per report, each study's mean; START and END of a seed
share the sampling seed. Per run: START -> END with a paired bootstrap CI over studies. Per side: mean
gain over seeds with its Student-t 95% CI. The difference radrl - trl: paired by seed (same data
order, same START evaluation), t CI across seeds. Curves: reward and KL per step, both sides, all
seeds, in docs/parity_trl.png.

Shorter than the demo (40 GRPO steps, not 200) so the whole script fits ~30 min on 2 loaded cores;
both sides use the same shortened job. Cached per stage under --root (a finished SFT, run or
evaluation is read, not redone), so a killed run continues. `--trl-set key=value` overrides one
GRPOConfig field (e.g. `use_bias_correction_kl=true`, trl's default) for the "which difference
explains it" runs; use another --root for those.

    .venv/bin/python bench/parity_trl.py [--seeds 0,1,2] [--steps 40] [--root runs/parity_trl]

Needs trl (pip install -r requirements/bench.txt). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from bench._tiny_grpo_job import mccs_reward_fn, require_trl, trl_lora, trl_rows  # noqa: E402
from radrl_dist.config import load_config  # noqa: E402
from radrl_dist.config.schema import ModelConfig, RadRLConfig, RolloutConfig  # noqa: E402
from radrl_dist.data.reader import read_studies  # noqa: E402
from radrl_dist.data.schema import Study  # noqa: E402
from radrl_dist.labelers.rules import RuleLabeler  # noqa: E402
from radrl_dist.metrics.stats import across_runs  # noqa: E402
from radrl_dist.models.loading import load_policy, load_processor  # noqa: E402
from radrl_dist.models.prompt_encoding import prepare_request, request_for  # noqa: E402
from radrl_dist.rewards.mccs import mccs  # noqa: E402
from radrl_dist.rollout.engines import make_engine  # noqa: E402
from radrl_dist.runtime.data_setup import resolve_data  # noqa: E402
from radrl_dist.runtime.metrics_log import read_metrics  # noqa: E402
from radrl_dist.runtime.sampler import TaskMixSampler  # noqa: E402
from radrl_dist.runtime.units import unique_units  # noqa: E402
from radrl_dist.train.heldout import HELDOUT_SUMMARY, paired_gain  # noqa: E402

BENCH_TIMEOUT_S = 3600  # bench/run_all.py reads this: ~25-30 min here under load, cached stages resume
PLOT = REPO / "docs" / "parity_trl.png"
SMOOTH = 5  # steps in the plotted rolling mean of the curves
EVAL_SEED = 1000  # held-out sampling seed = EVAL_SEED + run seed (START and END of a seed share it)


@dataclass(frozen=True)
class Job:
    """The GRPO job both sides run (the report demo's values, fewer steps)."""

    steps: int = 40
    studies_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = 40
    temperature: float = 1.0
    lr: float = 2e-3
    beta: float = 0.04
    clip_low: float = 0.2
    clip_high: float = 0.28
    lora_r: int = 16
    lora_alpha: int = 32
    adam_betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    heldout: int = 64
    heldout_samples: int = 8


# (what, trl 1.16 GRPOConfig, radrl_dist config): the algorithm, knob by knob. "=" rows are set
# from Job on both sides; the others are where the two codes have different defaults or names.
ALIGNMENT = [
    ("loss aggregation", "loss_type='dapo' (sum over tokens / tokens of the whole batch)",
     "grpo.aggregation=token_mean (sum over tokens / tokens of the whole update)"),
    ("advantage", "scale_rewards='group': (r - mean) / (std + 1e-4), Bessel std",
     "grpo.advantage=std: (r - mean) / (std + 1e-6), Bessel std"),
    ("KL estimator", "k3: exp(ref - logp) - (ref - logp) - 1", "grpo.kl_estimator=k3 (same formula)"),
    ("KL gradient", "use_bias_correction_kl=False (trl's default True multiplies k3 by the ratio: "
     "adds k3 * grad logp)", "plain k3 gradient"),
    ("policy ratio", "num_iterations=1: old logp = logp.detach(), ratio exactly 1",
     "behaviour logp recorded by the rollout engine; ratio = exp(learner - engine logp), ~1"),
    ("clip", "epsilon=clip_low, epsilon_high=clip_high, importance_sampling_level='token'",
     "grpo.clip_low, grpo.clip_high (token level)"),
    ("updates per batch", "num_iterations=1, gradient_accumulation_steps=1, one optimizer step",
     "learner.updates_per_step=1 (micro-batches of 4, loss normalised over the whole update)"),
    ("reference", "the policy with its LoRA adapter disabled", "the policy with its LoRA adapter disabled"),
    ("sampling", "temperature, top_p=1.0, top_k=0; vision tokens may be sampled",
     "temperature, top_p=1.0, top_k=0; vision tokens suppressed (log-probs renormalised without them)"),
    ("truncated outputs", "mask_truncated_completions=False (kept in the loss)", "kept in the loss"),
    ("optimizer", "AdamW, betas, eps 1e-8, weight_decay 0, cosine to 0 over the steps, no warm-up",
     "torch AdamW, learner.betas, eps 1e-8, weight_decay 0, lr_schedule=cosine, warmup_ratio 0"),
    ("LoRA", "peft LoraConfig(r, alpha, dropout 0) on the LM's q,k,v,o,gate,up,down",
     "learner.lora r, alpha, dropout 0, same modules, vision tower frozen"),
    ("data order", "shuffle_dataset=False over radrl's order for the seed", "data.shuffle_seed=seed"),
    ("numerics", "fp32, torch in this process (1 thread)", "fp32, DeepSpeed ZeRO-2 (1 worker, gloo), Ray actors"),
]

TRL_ALIGNED = dict(loss_type="dapo", scale_rewards="group", use_bias_correction_kl=False, num_iterations=1,
                   importance_sampling_level="token", mask_truncated_completions=False, top_k=0, top_p=1.0,
                   shuffle_dataset=False)


# ---------------------------------------------------------------- the shared setup

def base_config() -> RadRLConfig:
    """The report demo's config (embedded default): phantoms, model, prompt, reward, SFT."""
    return load_config(None, [f"data.phantom.cache_dir={REPO / 'cache' / 'phantom'}",
                              f"model.tiny.cache_dir={REPO / 'cache' / 'tiny_models'}"])


def study_order(cfg: RadRLConfig, job: Job, seed: int) -> list[Study]:
    """The studies radrl's sampler draws over the run for `data.shuffle_seed=seed`, step after step."""
    data = resolve_data(cfg.data)
    sampler = TaskMixSampler(data.train, dict(cfg.data.task_mix), job.studies_per_step, seed, split=data.train_split)
    return [s for _ in range(job.steps) for s in unique_units(sampler.next_batch())]


def heldout_studies(cfg: RadRLConfig, job: Job) -> list[Study]:
    """The held-out studies radrl's loop evaluates with `train.eval_studies=job.heldout` (the same rows)."""
    data = resolve_data(cfg.data)
    tasks = [t for t, w in cfg.data.task_mix.items() if w > 0]
    return unique_units(read_studies(data.eval, split=data.eval_split, tasks=tasks)[: job.heldout])


def run_logged(cmd: list[str], log: Path, tries: int = 2) -> None:
    """Run cmd (output appended to log); a failure is retried once, since on a loaded machine a local Ray
    can time out starting or lose a worker to the memory monitor; a second failure stops the bench."""
    for attempt in range(1, tries + 1):
        with open(log, "a") as fh:
            rc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
        if rc == 0:
            return
        print(f"   {' '.join(cmd[:3])} failed (rc {rc}, try {attempt} of {tries}); see {log}", flush=True)
    raise SystemExit(f"{' '.join(cmd[:3])} failed (rc {rc}) {tries} times; see {log}")


def ensure_sft(root: Path, steps: int | None) -> Path:
    """The report demo's SFT warm start (`steps` SFT steps, None: the demo's), made once; both sides
    start every seed from it."""
    out = root / "sft"
    if not (out / "sft_summary.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        print(f"== SFT (the report demo's warm start) -> {out}", flush=True)
        run_logged([sys.executable, "-m", "radrl_dist.sft", "--set", f"sft.output_dir={out}",
                    "--set", "logging.progress=false",
                    "--set", f"data.phantom.cache_dir={REPO / 'cache' / 'phantom'}",
                    "--set", f"model.tiny.cache_dir={REPO / 'cache' / 'tiny_models'}",
                    *(["--set", f"sft.steps={steps}"] if steps else [])], root / "sft.log")
    return out


# ---------------------------------------------------------------- radrl_dist side

def radrl_overrides(job: Job, sft: Path, seed: int, out: Path, extra: list[str]) -> list[str]:
    return [
        f"model.path={sft}", "train.warm_start_sft=false", f"train.steps={job.steps}", f"train.seed={seed}",
        f"data.shuffle_seed={seed}", f"data.studies_per_step={job.studies_per_step}",
        f"rollout.group_size={job.group_size}", f"rollout.max_new_tokens={job.max_new_tokens}",
        f"rollout.temperature={job.temperature}", "rollout.top_p=1.0", f"learner.lr={job.lr}",
        f"learner.betas=[{job.adam_betas[0]}, {job.adam_betas[1]}]", "learner.weight_decay=0.0",
        "learner.warmup_ratio=0.0", "learner.lr_schedule=cosine", f"learner.grad_clip={job.grad_clip}",
        "learner.updates_per_step=1", "learner.gradient_accumulation=1",
        f"learner.lora.r={job.lora_r}", f"learner.lora.alpha={job.lora_alpha}", "learner.lora.dropout=0.0",
        f"grpo.beta={job.beta}", "grpo.kl_estimator=k3", f"grpo.clip_low={job.clip_low}",
        f"grpo.clip_high={job.clip_high}", "grpo.advantage=std", "grpo.aggregation=token_mean",
        "grpo.skip_zero_spread=false", "async.max_staleness=0", "reward.weights={report: {mccs: 1.0}}",
        "train.eval_every=0", f"train.eval_studies={job.heldout}", "train.eval_greedy=false",
        "checkpoint.every_n_steps=0", "checkpoint.resume=auto",  # auto: a retry starts over in the same dir
        "logging.tensorboard=false",
        "logging.progress=false", f"logging.output_dir={out}", *extra,
    ]


def run_radrl(job: Job, sft: Path, seed: int, root: Path, extra: list[str]) -> dict:
    """`python -m radrl_dist.train` (sync, the real Ray path); per-step curves, wall time, final model."""
    out = root / "radrl" / f"seed{seed}"
    done = out / "parity_run.json"
    if not done.is_file():
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"== radrl_dist seed {seed} -> {out}", flush=True)
        t0 = time.time()
        cmd = [sys.executable, "-m", "radrl_dist.train"]
        run_logged(cmd + [a for s in radrl_overrides(job, sft, seed, out, extra) for a in ("--set", s)],
                   out.parent / f"seed{seed}.log")
        rows = [r for r in read_metrics(out / "metrics.jsonl") if "reward/mean" in r]
        own = json.loads((out / HELDOUT_SUMMARY).read_text())
        done.write_text(json.dumps({
            "wall_s": round(time.time() - t0, 1), "model": str(out / "final_model"),
            "curves": {"reward": [r["reward/mean"] for r in rows], "kl": [r.get("learner/kl", 0.0) for r in rows],
                       "lr": [r.get("learner/lr") for r in rows], "response_len": [r["rollout/response_len"] for r in rows]},
            "own_heldout": {"start": own["start"], "end": own["end"]},
        }))
    return json.loads(done.read_text())


# ---------------------------------------------------------------- trl side

def trl_config(job: Job, out: Path, seed: int, trl_set: dict):
    from trl import GRPOConfig  # lazy: trl, a bench-only dependency

    return GRPOConfig(
        output_dir=str(out), max_steps=job.steps, per_device_train_batch_size=job.studies_per_step * job.group_size,
        gradient_accumulation_steps=1, num_generations=job.group_size, max_completion_length=job.max_new_tokens,
        temperature=job.temperature, learning_rate=job.lr, lr_scheduler_type="cosine", warmup_steps=0,
        adam_beta1=job.adam_betas[0], adam_beta2=job.adam_betas[1], weight_decay=0.0, max_grad_norm=job.grad_clip,
        beta=job.beta, epsilon=job.clip_low, epsilon_high=job.clip_high, use_vllm=False, bf16=False, fp16=False,
        use_cpu=True, gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1,
        disable_tqdm=True, seed=seed, dataloader_num_workers=0, **{**TRL_ALIGNED, **trl_set},
    )


def save_merged(model, processor, base: Path, out: Path) -> None:
    """The trained policy as an HF checkpoint the evaluator loads (LoRA merged, as radrl's final_model)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.merge_and_unload().save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    if (base / "radrl_tiny.json").exists():
        shutil.copy(base / "radrl_tiny.json", tmp / "radrl_tiny.json")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def run_trl(job: Job, cfg: RadRLConfig, sft: Path, seed: int, root: Path, trl_set: dict) -> dict:
    """trl's GRPOTrainer on the same SFT checkpoint and study order; curves, wall time, final model, and
    the prompt token ids of step 1's first study (checked against radrl's in `prompt_check`)."""
    out = root / "trl" / f"seed{seed}"
    done = out / "parity_run.json"
    if done.is_file():
        return json.loads(done.read_text())
    import torch  # lazy: trl (and its torch, datasets, transformers) load only when a trl run is not cached
    from datasets import Dataset  # lazy: trl
    from transformers import PrinterCallback  # lazy: trl
    from trl import GRPOTrainer  # lazy: trl

    print(f"== trl seed {seed} -> {out}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.time()
    torch.manual_seed(seed)
    processor = load_processor(sft, cfg.model.min_pixels, cfg.model.max_pixels)
    model = load_policy(sft, cfg.model.dtype, cfg.model.attn_implementation)
    order = study_order(cfg, job, seed)
    rows = trl_rows(order, cfg.data.prompt_format["report"], cfg.box_format)
    trainer = GRPOTrainer(model=model, reward_funcs=mccs_reward_fn(), args=trl_config(job, out / "trainer", seed, trl_set),
                          train_dataset=Dataset.from_list(rows), processing_class=processor,
                          peft_config=trl_lora(job.lora_r, job.lora_alpha))
    first: dict = {}
    generate_and_score = trainer._generate_and_score_completions

    def capture(inputs):
        res = generate_and_score(inputs)
        if not first:
            ids, mask = res["prompt_ids"][0], res["prompt_mask"][0]
            first.update(study_id=inputs[0]["study_id"], prompt_ids=ids[mask.bool()].tolist())
        return res

    trainer._generate_and_score_completions = capture
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    hist = [h for h in trainer.state.log_history if "reward" in h]
    save_merged(trainer.model, processor, sft, out / "final_model")
    row = {"wall_s": round(time.time() - t0, 1), "model": str(out / "final_model"), "first_prompt": first,
           "curves": {"reward": [h["reward"] for h in hist], "kl": [h.get("kl", 0.0) for h in hist],
                      "lr": [h.get("learning_rate") for h in hist],
                      "response_len": [h.get("completions/mean_length") for h in hist]}}
    done.write_text(json.dumps(row))
    return row


# ---------------------------------------------------------------- one evaluator for both

def evaluate(model_dir: Path | str, cfg: RadRLConfig, job: Job, studies: list[Study], seed: int, cache: Path) -> dict[str, float]:
    """study_id -> mean MCCS over `heldout_samples` sampled reports (temperature 1.0) of the policy in
    model_dir: radrl's HF engine in this process, the reward trl trains on (the same as radrl's pool)."""
    if cache.is_file():
        return json.loads(cache.read_text())
    rollout = RolloutConfig(group_size=job.heldout_samples, temperature=job.temperature, top_p=1.0,
                            max_new_tokens=job.max_new_tokens)
    model = ModelConfig(path=str(model_dir), min_pixels=cfg.model.min_pixels, max_pixels=cfg.model.max_pixels,
                        dtype=cfg.model.dtype, attn_implementation=cfg.model.attn_implementation)
    engine = make_engine(rollout, model, cfg.data.max_prompt_length, engine_id="parity-eval")
    reqs = [replace(request_for(s, dict(cfg.data.prompt_format), cfg.box_format), seed=EVAL_SEED + seed) for s in studies]
    rolls = engine.generate(reqs, n=job.heldout_samples)
    failed = [r.study_id for r in rolls if not r.ok]
    if failed:
        raise SystemExit(f"held-out evaluation of {model_dir}: studies failed: {failed[:3]}")
    labeler, refs = RuleLabeler(), {s.study_id: s for s in studies}
    values = {}
    for r in rolls:
        st = refs[r.study_id]
        ref = st.reference_labels if st.reference_labels is not None else labeler.label([st.reference_report])[0]
        cand = labeler.label([c.text.strip() for c in r.candidates])
        values[r.study_id] = float(mccs(cand, np.tile(np.asarray(ref), (len(cand), 1))).mean())
    cache.write_text(json.dumps(values))
    return values


def prompt_check(cfg: RadRLConfig, sft: Path, trl_run: dict, studies: list[Study]) -> dict:
    """Are trl's prompt tokens (image tokens included) the ones radrl's engine and learner use?"""
    first = trl_run["first_prompt"]
    study = next(s for s in studies if s.study_id == first["study_id"])
    proc = load_processor(sft, cfg.model.min_pixels, cfg.model.max_pixels)
    ours = prepare_request(proc, request_for(study, dict(cfg.data.prompt_format), cfg.box_format),
                           cfg.data.max_prompt_length).prompt_ids
    return {"study_id": first["study_id"], "identical": ours == first["prompt_ids"], "tokens": len(ours),
            "trl_tokens": len(first["prompt_ids"])}


# ---------------------------------------------------------------- figures

def side_summary(gains: list[dict]) -> dict:
    out = {"gains": [g["gain"] for g in gains], "starts": [g["start"] for g in gains], "ends": [g["end"] for g in gains],
           "run_ci": [[g["ci_low"], g["ci_high"]] for g in gains]}
    if len(gains) >= 2:
        s = across_runs(out["gains"])
        out.update(mean_gain=s.mean, se_gain=s.se, gain_ci=[s.ci_low, s.ci_high], gain_over_se=s.t_stat)
    else:
        out["mean_gain"] = gains[0]["gain"]
    return out


def lr_agreement(radrl: list[dict], trl: list[dict], lr: float) -> float:
    """Largest relative difference between the learning rates the two sides used at each step (the
    schedule check). radrl logs the LR after its scheduler step (the next update's), trl the one used."""
    worst = 0.0
    for r, t in zip(radrl, trl):
        used = [lr] + r["curves"]["lr"][:-1]
        for a, b in zip(used, t["curves"]["lr"]):
            if a is not None and b is not None and max(abs(a), abs(b)) > 0:
                worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
    return worst


def rolling_mean(y: np.ndarray, k: int) -> np.ndarray:
    """Trailing mean over up to k steps (the first points average what there is)."""
    c = np.cumsum(np.insert(y, 0, 0.0))
    n = np.minimum(np.arange(1, len(y) + 1), k)
    return (c[1:] - c[np.arange(1, len(y) + 1) - n]) / n


def plot(radrl: list[dict], trl: list[dict], summary: dict, seeds: list[int], job: Job, path: Path) -> None:
    import matplotlib  # lazy: matplotlib, plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    colours = {"radrl_dist (Ray, sync)": "#1f77b4", "trl GRPOTrainer": "#d62728"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    for (name, runs), key in zip(zip(colours, (radrl, trl)), ("radrl", "trl")):
        c = colours[name]
        for ax, curve in zip(axes[:2], ("reward", "kl")):
            ys = np.array([r["curves"][curve] for r in runs], dtype=float)
            x = np.arange(1, ys.shape[1] + 1)
            for y in ys:
                ax.plot(x, y, color=c, alpha=0.2, lw=0.8)
            ax.plot(x, rolling_mean(ys.mean(0), SMOOTH), color=c, lw=2.2,
                    label=f"{name}: mean of {len(runs)} seeds, rolling {SMOOTH} steps (thin: each seed)")
    axes[0].set(title="training reward (MCCS, mean of the step's G x studies)", xlabel="GRPO step", ylabel="reward")
    axes[1].set(title=f"KL to the reference (k3, token mean), beta {job.beta}", xlabel="GRPO step", ylabel="KL")
    axes[0].legend(loc="lower right", fontsize=8)
    ax = axes[2]
    for i, (key, name) in enumerate(zip(("radrl", "trl"), colours)):
        s, c = summary[key], colours[name]
        xs = i + np.linspace(-0.18, 0.18, len(seeds))
        lo = [g - ci[0] for g, ci in zip(s["gains"], s["run_ci"])]
        hi = [ci[1] - g for g, ci in zip(s["gains"], s["run_ci"])]
        ax.errorbar(xs, s["gains"], yerr=[lo, hi], fmt="o", color=c, alpha=0.55, capsize=3,
                    label="one seed (95% CI over held-out studies)" if i == 0 else None)
        if "gain_ci" in s:
            ax.errorbar([i + 0.38], [s["mean_gain"]], yerr=[[s["mean_gain"] - s["gain_ci"][0]], [s["gain_ci"][1] - s["mean_gain"]]],
                        fmt="D", color=c, ms=8, capsize=5, lw=2, label="mean over seeds (t 95% CI)" if i == 0 else None)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks([0.1, 1.1], ["radrl_dist", "trl"])
    ax.set_xlim(-0.4, 1.6)
    d = summary["difference"]
    ci = f" [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]" if "ci" in d else ""
    ax.set(title=f"held-out MCCS gain, {job.heldout} studies x {job.heldout_samples}\n"
                 f"radrl - trl = {d['mean']:+.3f}{ci}", ylabel="END - START")
    ax.legend(loc="lower center", fontsize=7)
    fig.suptitle(f"GRPO parity on the tiny Qwen2-VL: same SFT start, data, G={job.group_size}, lr {job.lr}, "
                 f"{job.steps} steps; seeds {seeds}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main

def parse_sets(items: list[str]) -> dict:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise SystemExit(f"--trl-set wants KEY=VALUE, got {it!r}")
        out[k] = yaml.safe_load(v)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Job()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--studies", type=int, default=d.studies_per_step, help="studies per step")
    ap.add_argument("--group-size", type=int, default=d.group_size)
    ap.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    ap.add_argument("--heldout", type=int, default=d.heldout, help="held-out studies scored")
    ap.add_argument("--heldout-samples", type=int, default=d.heldout_samples, help="sampled reports per held-out study")
    ap.add_argument("--root", default=str(REPO / "runs" / "parity_trl"))
    ap.add_argument("--trl-set", action="append", default=[], metavar="KEY=VALUE", help="override a GRPOConfig field")
    ap.add_argument("--radrl-set", action="append", default=[], metavar="KEY=VALUE", help="override a radrl config key")
    ap.add_argument("--sft-steps", type=int, default=None, help="SFT steps (default: the report demo's)")
    ap.add_argument("--plot", default=str(PLOT))
    args = ap.parse_args(argv)
    job = replace(d, steps=args.steps, studies_per_step=args.studies, group_size=args.group_size,
                  max_new_tokens=args.max_new_tokens, heldout=args.heldout, heldout_samples=args.heldout_samples)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    trl_set = parse_sets(args.trl_set)
    trl_version = require_trl()
    import torch  # lazy: torch after require_trl, so a missing trl is reported first

    torch.set_num_threads(1)  # what Ray gives each radrl actor: both sides compute on one thread
    t_start = time.time()
    root = Path(args.root).resolve()
    cfg = base_config()
    sft = ensure_sft(root, args.sft_steps)
    held = heldout_studies(cfg, job)
    radrl, trl, gains = [], [], {"radrl": [], "trl": []}
    for seed in seeds:
        radrl.append(run_radrl(job, sft, seed, root, args.radrl_set))
        trl.append(run_trl(job, cfg, sft, seed, root, trl_set))
        ev = root / "eval"
        ev.mkdir(exist_ok=True)
        start = evaluate(sft, cfg, job, held, seed, ev / f"start_seed{seed}.json")
        for side, run in (("radrl", radrl[-1]), ("trl", trl[-1])):
            end = evaluate(run["model"], cfg, job, held, seed, ev / f"{side}_seed{seed}.json")
            g = paired_gain(start, end, "mccs", seed=seed)
            gains[side].append(g.as_dict())
            print(f"== {side} seed {seed}: held-out MCCS {g.start:.4f} -> {g.end:.4f} gain {g.gain:+.4f} "
                  f"[{g.ci_low:+.4f}, {g.ci_high:+.4f}] (run wall {run['wall_s']} s)", flush=True)
    summary = {k: side_summary(v) for k, v in gains.items()}
    diffs = [a - b for a, b in zip(summary["radrl"]["gains"], summary["trl"]["gains"])]
    summary["difference"] = {"per_seed": diffs, "mean": float(np.mean(diffs))}
    if len(diffs) >= 2:
        s = across_runs(diffs)
        summary["difference"].update(se=s.se, ci=[s.ci_low, s.ci_high])
    check = prompt_check(cfg, sft, trl[0], study_order(cfg, job, seeds[0]))
    lr_diff = lr_agreement(radrl, trl, job.lr)
    curves = {k: {c: float(np.mean([np.mean(r["curves"][c][-10:]) for r in runs])) for c in ("reward", "kl")}
              for k, runs in (("radrl", radrl), ("trl", trl))}
    plot(radrl, trl, summary, seeds, job, Path(args.plot))

    print("\nalignment (trl GRPOConfig | radrl_dist):")
    for what, t, r in ALIGNMENT:
        print(f"  {what:<18} | {t} | {r}")
    shared = {k: v for k, v in asdict(job).items()}
    print(f"  {'shared values':<18} | {shared}")
    if trl_set:
        print(f"  {'trl overrides':<18} | {trl_set} (NOT aligned: a flipped-setting run)")
    print(f"  prompt tokens of study {check['study_id']}: trl {check['trl_tokens']}, radrl {check['tokens']}, "
          f"identical: {check['identical']}")
    print(f"  learning rate per step: largest relative difference {lr_diff:.2e}")
    print()
    for k, name in (("radrl", "radrl_dist"), ("trl", f"trl {trl_version}")):
        s = summary[k]
        ci = f", t 95% CI [{s['gain_ci'][0]:+.4f}, {s['gain_ci'][1]:+.4f}], {s['gain_over_se']:.1f} SE above 0" if "gain_ci" in s else ""
        print(f"{name:<12} held-out MCCS gain over seeds {seeds}: mean {s['mean_gain']:+.4f}{ci}; "
              f"END mean {np.mean(s['ends']):.4f}; last-10-step reward {curves[k]['reward']:.4f}, KL {curves[k]['kl']:.4f}")
    dd = summary["difference"]
    agree = "ci" in dd and dd["ci"][0] <= 0 <= dd["ci"][1]
    ci = f" (t 95% CI over seeds, paired by seed: [{dd['ci'][0]:+.4f}, {dd['ci'][1]:+.4f}])" if "ci" in dd else ""
    print(f"difference radrl_dist - trl in held-out gain: {dd['mean']:+.4f}{ci}: "
          f"{'agree within noise' if agree else 'DISAGREE beyond noise' if 'ci' in dd else 'one seed, no CI'}")
    print(f"plot: {args.plot}; whole script {time.time() - t_start:.0f} s")
    print(json.dumps({
        "radrl_mean_gain": round(summary["radrl"]["mean_gain"], 4), "trl_mean_gain": round(summary["trl"]["mean_gain"], 4),
        "radrl_gain_ci": [round(v, 4) for v in summary["radrl"].get("gain_ci", [])],
        "trl_gain_ci": [round(v, 4) for v in summary["trl"].get("gain_ci", [])],
        "difference_mean": round(dd["mean"], 4), "difference_ci": [round(v, 4) for v in dd.get("ci", [])],
        "agree_within_noise": agree, "heldout_start_mean": round(float(np.mean(summary["radrl"]["starts"])), 4),
        "radrl_end_mean": round(float(np.mean(summary["radrl"]["ends"])), 4),
        "trl_end_mean": round(float(np.mean(summary["trl"]["ends"])), 4),
        "radrl_last10_reward": round(curves["radrl"]["reward"], 4), "trl_last10_reward": round(curves["trl"]["reward"], 4),
        "radrl_last10_kl": round(curves["radrl"]["kl"], 5), "trl_last10_kl": round(curves["trl"]["kl"], 5),
        "radrl_run_wall_s": round(float(np.mean([r["wall_s"] for r in radrl])), 1),
        "trl_run_wall_s": round(float(np.mean([r["wall_s"] for r in trl])), 1),
        "prompt_tokens_identical": check["identical"], "lr_max_rel_diff": lr_diff,
        "script_wall_s": round(time.time() - t_start, 1),
        "per_seed": {k: summary[k] for k in ("radrl", "trl")}, "difference_per_seed": dd["per_seed"],
        "settings": {"trl_version": trl_version, "seeds": seeds, **shared, "trl_aligned": TRL_ALIGNED,
                     "trl_overrides": trl_set, "radrl_overrides": args.radrl_set, "root": str(root)},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
