"""Supervised fine-tuning on the DeepSpeed learner group (MRG-R1's SFT baseline, BoxMed-RL phase I-a
and II, RadVLM-GRPO's SFT and cold start).

The same LearnerGroup as GRPO with the `sft` objective: token-mean NLL of the target tokens only
(the loss is masked to the answer; prompt and image tokens carry none). Writes an HF checkpoint
(LoRA merged into the base, so `radrl_dist.train` starts from it with `model.path`) and, for LoRA,
the adapter in PEFT format.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch
from tqdm.auto import tqdm

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.data.reader import read_studies
from radrl_dist.data.schema import Study
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.learner.batch import TrainingSample
from radrl_dist.learner.group import LearnerGroup
from radrl_dist.learner.hf_export import export_hf_checkpoint
from radrl_dist.models.loading import load_processor, resolve_model_path
from radrl_dist.models.prompt_encoding import prepare_request, request_for
from radrl_dist.models.prompt_inputs import PromptInputs, model_input_size
from radrl_dist.models.tokenizer import end_of_turn_id
from radrl_dist.runtime.data_check import check_run_data
from radrl_dist.runtime.data_setup import resolve_data
from radrl_dist.runtime.metrics_log import MetricsLogger
from radrl_dist.runtime.ray_setup import init_ray
from radrl_dist.runtime.run_dir import resolve_output_dir
from radrl_dist.runtime.sampler import TaskMixSampler
from radrl_dist.sft.targets import build_target


@dataclass
class SFTResult:
    output_dir: str
    heldout_nll_start: float
    heldout_nll_end: float
    steps: int
    history: list[dict]


class SFTExamples:
    """Studies -> learner candidates whose completion is the target text (+ end-of-turn token)."""

    def __init__(self, cfg: RadRLConfig, processor, labeler=None) -> None:
        self.cfg, self.processor, self.labeler = cfg, processor, labeler
        tok = processor.tokenizer
        self.eos_id = end_of_turn_id(tok, cfg.model.family)  # the family's end of turn closes every target
        self._prompt_cache: dict[str, PromptInputs] = {}

    def prompt(self, study: Study) -> PromptInputs:
        key = f"{study.study_id}/{study.task}"
        if key not in self._prompt_cache:
            req = request_for(study, self.cfg.data.prompt_format, self.cfg.box_format)
            prep = prepare_request(self.processor, req, self.cfg.data.max_prompt_length)
            self._prompt_cache[key] = PromptInputs.from_processor(prep.inputs)
        return self._prompt_cache[key]

    def candidate(self, study: Study) -> TrainingSample | None:
        kind = self.cfg.sft.targets.get(study.task)
        if kind is None:
            return None
        prompt = self.prompt(study)
        text = build_target(study, kind, self.cfg.box_format, labeler=self.labeler, model_size=model_input_size(prompt, self.cfg.model.family))
        ids = self.processor.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_id]
        comp = torch.tensor(ids, dtype=torch.long)
        return TrainingSample(prompt=prompt, completion_ids=comp, behaviour_logps=torch.zeros(len(ids)),
                         advantage=0.0, meta={"study_id": study.study_id, "target": text})

    def candidates(self, studies: list[Study]) -> list[TrainingSample]:
        return [c for c in (self.candidate(s) for s in studies) if c is not None]


def heldout_nll(learner, cands: list[TrainingSample]) -> float:
    """Token-mean NLL of the targets under the current weights (the number SFT should lower)."""
    lps = learner.logprobs(cands)
    tot = sum(float(-lp.sum()) for lp in lps)
    return tot / max(1, sum(len(lp) for lp in lps))


def _absolute_output_dirs(cfg: RadRLConfig) -> RadRLConfig:
    """sft.output_dir and logging.output_dir resolved like a GRPO run's (radrl_dist.runtime.run_dir)."""

    def absolute(d: str) -> str:
        return str(resolve_output_dir(d, cfg.logging.run_root, os.environ, Path.cwd()))

    return cfg.model_copy(update={
        "sft": cfg.sft.model_copy(update={"output_dir": absolute(cfg.sft.output_dir)}),
        "logging": cfg.logging.model_copy(update={"output_dir": absolute(cfg.logging.output_dir)})})


def run_sft(cfg: RadRLConfig, log=print) -> SFTResult:
    """Train `cfg.sft.steps` steps; evaluate held-out NLL at start, every `eval_every`, and at the end."""
    cfg = cfg.model_copy(update={"learner": cfg.sft.learner_for_stage(cfg.learner), "grpo": cfg.grpo.model_copy(update={"beta": 0.0})})
    cfg = _absolute_output_dirs(cfg)  # under `ray job submit`, never inside Ray's package folder
    cfg = check_run_data(cfg)  # every bad row named before the model loads or any actor starts
    base = resolve_model_path(cfg.model)
    processor = load_processor(base, cfg.model.min_pixels, cfg.model.max_pixels)
    labeler = None
    if "structured_chain" in cfg.sft.targets.values():
        labeler = build_labeler(cfg.reward.labeler, tokenizer=cfg.reward.labeler_tokenizer)
    data = resolve_data(cfg.data)
    mix = {t: w for t, w in cfg.data.task_mix.items() if t in cfg.sft.targets}
    sampler = TaskMixSampler(data.train, mix, cfg.sft.studies_per_step, cfg.data.shuffle_seed, split=data.train_split)
    examples = SFTExamples(cfg, processor, labeler)
    held = read_studies(data.eval, split=data.eval_split, tasks=list(mix))[: cfg.sft.eval_studies] if data.eval else []
    held_cands = examples.candidates(held)
    out_dir = Path(cfg.sft.output_dir)
    log_dir = out_dir.parent / (out_dir.name + "_logs")
    init_ray(cfg.cluster)
    learner = LearnerGroup(cfg, str(base), total_updates=cfg.sft.steps * cfg.learner.updates_per_step, temperature=1.0)
    learner.set_objective("sft", temperature=1.0)
    logger = MetricsLogger(log_dir, tensorboard=cfg.logging.tensorboard)
    history: list[dict] = []
    try:
        start = heldout_nll(learner, held_cands) if held_cands else float("nan")
        logger.log(0, {"sft/heldout_nll": start})
        bar = tqdm(range(1, cfg.sft.steps + 1), desc="SFT", disable=not cfg.logging.progress, dynamic_ncols=True)
        for step in bar:
            t0 = time.perf_counter()
            cands = examples.candidates(sampler.next_batch())
            m = learner.train_step(cands)
            row = {"sft/loss": m["loss"], "sft/tokens": m["tokens"], "time/step_s": time.perf_counter() - t0, "lr": m["lr"]}
            if held_cands and cfg.sft.eval_every and step % cfg.sft.eval_every == 0:
                row["sft/heldout_nll"] = heldout_nll(learner, held_cands)
            logger.log(step, row)
            history.append(row)
            bar.set_postfix(loss=f"{m['loss']:.3f}")
        end = heldout_nll(learner, held_cands) if held_cands else float("nan")
        logger.log(cfg.sft.steps, {"sft/heldout_nll": end})
        export_hf_checkpoint(learner, cfg, Path(base), processor, out_dir)
        (out_dir / "sft_summary.json").write_text(json.dumps(
            {"heldout_nll_start": start, "heldout_nll_end": end, "steps": cfg.sft.steps,
             "final_train_loss": float(np.mean([h["sft/loss"] for h in history[-5:]]))}, indent=1))
        log(f"SFT held-out NLL: {start:.4f} -> {end:.4f}; checkpoint: {out_dir}")
        return SFTResult(str(out_dir), start, end, cfg.sft.steps, history)
    finally:
        learner.shutdown()
        logger.close()
        ray.shutdown()
