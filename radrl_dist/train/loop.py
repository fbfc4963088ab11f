"""TrainingRun: builds the three roles, runs GRPO steps, logs, checkpoints and resumes.

One step: sample studies -> RolloutPool.generate (G per study) -> RewardPool.score -> group
advantages -> LearnerGroup.train_step -> export (versioned manifest) -> RolloutPool.load.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError

from radrl_dist.config.loader import dump_config
from radrl_dist.config.schema import RadRLConfig
from radrl_dist.data.reader import read_studies
from radrl_dist.learner.batch import PromptInputs
from radrl_dist.rollout.prepare import prepare_request
from radrl_dist.rollout.types import RolloutError, RolloutRequest
from radrl_dist.train import run_state as rs
from radrl_dist.train.assemble import build_train_batch, reward_metrics, score_requests, unique_units
from radrl_dist.train.data_setup import resolve_data
from radrl_dist.train.driver import LearnerDiedError, TrainResult
from radrl_dist.train.heldout import evaluate_heldout
from radrl_dist.train.metrics_log import MetricsLogger
from radrl_dist.train.ray_setup import init_ray
from radrl_dist.train.sampler import TaskMixSampler


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


class TrainingRun:
    def __init__(self, cfg: RadRLConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.logging.output_dir)
        self.ckpt_root = self.out / "checkpoints"
        self.rollout = self.rewards = self.learner = None
        self._heldout_prompts = None
        self._executor = ThreadPoolExecutor(max_workers=1) if cfg.async_.max_staleness else None

    # ------------------------------------------------------------------ setup / teardown
    def __enter__(self) -> "TrainingRun":
        from radrl_dist.learner.group import LearnerGroup
        from radrl_dist.models.loading import load_processor, resolve_model_path
        from radrl_dist.rewards.pool.client import RewardPool
        from radrl_dist.rollout.pool import RolloutPool

        cfg = self.cfg
        random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        torch.manual_seed(cfg.train.seed)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.yaml").write_text(dump_config(cfg))
        self.model_path = resolve_model_path(cfg.model)
        self.processor = load_processor(self.model_path, cfg.model.min_pixels, cfg.model.max_pixels)
        data = resolve_data(cfg.data)
        self.sampler = TaskMixSampler(data.train, cfg.data.task_mix, cfg.data.studies_per_step, cfg.data.shuffle_seed,
                                      split=data.train_split)
        tasks = [t for t, w in cfg.data.task_mix.items() if w > 0]
        self.heldout_studies = unique_units(read_studies(data.eval, split=data.eval_split, tasks=tasks)[: cfg.train.eval_studies]) if data.eval else []
        init_ray(cfg.cluster)
        strategy = cfg.cluster.placement_strategy
        self.rollout = RolloutPool(cfg.rollout, cfg.model, cfg.data.max_prompt_length, placement_strategy=strategy)
        self.rewards = RewardPool.create(cfg.reward, prompt_formats=dict(cfg.data.prompt_format))
        self.learner = LearnerGroup(cfg, str(self.model_path), total_updates=cfg.train.steps * cfg.learner.updates_per_step)
        self.log = MetricsLogger(self.out, cfg.logging.jsonl, cfg.logging.tensorboard)
        return self

    def __exit__(self, *exc) -> None:
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
        for role in (self.rollout, self.rewards, self.learner):
            if role is not None:
                try:
                    role.shutdown()
                except Exception:  # noqa: BLE001 - teardown must not hide the run's own error
                    pass
        if getattr(self, "log", None):
            self.log.close()

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        cfg = self.cfg
        state = self._resume_or_start()
        fmt = dict(cfg.data.prompt_format)
        start_eval = self._heldout("start") if self.heldout_studies else None
        history = []
        pending = None  # async mode: the next step's rollout, running while the learner trains
        from tqdm.auto import tqdm

        self._cursor = self.sampler.state_dict()
        bar = tqdm(total=cfg.train.steps, initial=state.step, desc="GRPO", disable=not cfg.logging.progress, dynamic_ncols=True)
        while state.step < cfg.train.steps:
            step = state.step + 1
            t_step = time.perf_counter()
            if pending is None:
                studies = unique_units(self.sampler.next_batch())
                batch, rollout_s = _timed(self.rollout.generate, [RolloutRequest(s, fmt[s.task]) for s in studies])
            else:
                studies, fut = pending
                batch, rollout_s = fut.result()
            t_wait = time.perf_counter() - t_step
            self._cursor = self.sampler.state_dict()  # what a checkpoint of this step must resume from
            if self._executor and step < cfg.train.steps:  # start step+1's rollout on the current weights
                nxt = unique_units(self.sampler.next_batch())
                pending = (nxt, self._executor.submit(_timed, self.rollout.generate, [RolloutRequest(s, fmt[s.task]) for s in nxt]))
            else:
                pending = None
            metrics = self._step(step, studies, batch, rollout_s, state, pending[1] if pending else None)
            metrics["time/step_s"] = time.perf_counter() - t_step
            metrics["time/rollout_wait_s"] = t_wait
            state.step = step
            self.log.log(step, metrics)
            history.append(metrics)
            bar.update(1)
            bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}", kl=f"{metrics.get('learner/kl', 0):.3f}",
                            len=f"{metrics['rollout/response_len']:.0f}", v=state.weight_version)
            if cfg.checkpoint.every_n_steps and step % cfg.checkpoint.every_n_steps == 0:
                self._checkpoint(state)  # async: the in-flight next batch is redrawn on resume
            if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < cfg.train.steps:
                self._heldout(f"step{step}", step)
        bar.close()
        end_eval = self._heldout("end", state.step) if self.heldout_studies else None
        if cfg.checkpoint.every_n_steps:
            self._checkpoint(state)
        if cfg.checkpoint.save_final_model:
            from radrl_dist.sft.trainer import export_hf_checkpoint

            export_hf_checkpoint(self.learner, cfg, Path(self.model_path), self.processor, self.out / "final_model")
        self._plot()
        result = TrainResult(True, state.step, start_eval, end_eval, str(self.out), history)
        if start_eval is not None:
            print(f"held-out reward: {start_eval:.4f} -> {end_eval:.4f}", flush=True)
        return result

    def _step(self, step: int, studies, batch, rollout_s: float, state: rs.DriverState, inflight=None) -> dict:
        cfg = self.cfg
        rolls = batch.fetch([s.study_id for s in studies])
        failed = {r.study_id: r.error for r in rolls if not r.ok}
        prompts = {s.study_id: PromptInputs.from_processor(
            prepare_request(self.processor, RolloutRequest(s, cfg.data.prompt_format[s.task]), cfg.data.max_prompt_length).inputs)
            for s, r in zip(studies, rolls) if r.ok}
        reqs = score_requests(step, studies, rolls, cfg.box_format, prompts)
        results, reward_s = _timed(self.rewards.score, reqs)
        sb = build_train_batch(step, rolls, results, prompts, cfg.grpo.advantage, cfg.grpo.eps, cfg.grpo.skip_zero_spread)
        learn, learn_s = _timed(self._learner_call, self.learner.train_step, sb.candidates) if sb.candidates else ({}, 0.0)
        manifest, export_s = _timed(self._learner_call, self.learner.export)
        if inflight is not None:  # async: the pool is not thread-safe, and its actors would queue the
            wait([inflight])      # load behind that rollout anyway; loading under it mixes versions
        sync, sync_s = _timed(self.rollout.load, manifest)
        state.weight_version = manifest.version
        cands = [c for r in rolls for c in r.candidates]
        lens = [len(c.token_ids) for c in cands] or [0]
        m = {"weight_version": manifest.version, "rollout/behind_versions": manifest.version - 1 - batch.version,
             "rollout/response_len": float(np.mean(lens)), "rollout/failed_studies": len(failed),
             "rollout/tokens_per_s": batch.stats.get("tokens_per_s", 0.0), "time/rollout_s": rollout_s,
             "time/reward_s": reward_s, "time/learn_s": learn_s, "time/export_s": export_s, "time/sync_s": sync_s,
             "sync/bytes": manifest.total_bytes, "sync/seconds": export_s + sync_s,
             "grpo/zero_spread_fraction": sb.zero_spread_fraction, "grpo/dropped_groups": sb.dropped_groups,
             "grpo/candidates": len(sb.candidates), "data/study_ids": [s.study_id for s in studies],
             "reward/scored": len(results)}
        m.update(reward_metrics(results))
        m.update({f"learner/{k}": v for k, v in learn.items() if isinstance(v, (int, float))})
        m["reward/labeler_version"] = results[0].labeler_version if results else None
        if failed:
            m["rollout/failed_examples"] = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        if step % cfg.logging.samples_every == 0 or step == 1:
            by_cid = {r.candidate_id: r for r in results}
            samples = [{"study_id": s.study_id, "task": s.task, "reference": s.reference_report, "text": c.text,
                        "reward": by_cid[q.candidate_id].reward, "version": c.weight_version}
                       for s, roll, q, c in _pairs(studies, rolls, reqs)][: 2 * cfg.rollout.group_size]
            self.log.log_samples(step, samples)
        return m

    # ------------------------------------------------------------------ helpers
    def _learner_call(self, fn, *args):
        try:
            return fn(*args)
        except RayActorError as exc:
            last = rs.latest_checkpoint(self.ckpt_root)
            raise LearnerDiedError(
                f"a learner worker died ({exc.__class__.__name__}); the run stops. Last complete checkpoint: "
                f"{last or 'none'}. Restart with --set checkpoint.resume=auto to continue from it.") from exc

    def _heldout(self, tag: str, step: int | None = None) -> float:
        cfg = self.cfg
        if self._heldout_prompts is None:  # model-input sizes for box formats that need them
            self._heldout_prompts = {s.study_id: PromptInputs.from_processor(prepare_request(
                self.processor, RolloutRequest(s, cfg.data.prompt_format[s.task]), cfg.data.max_prompt_length).inputs)
                for s in self.heldout_studies} if cfg.box_format == "qwen2_5_vl" else {}
        ho = evaluate_heldout(self.rollout, self.rewards, self.heldout_studies, dict(cfg.data.prompt_format),
                              cfg.box_format, tag, greedy=cfg.train.eval_greedy, prompts=self._heldout_prompts,
                              n=1 if cfg.train.eval_greedy else cfg.rollout.group_size)
        self.log.log(step or 0, {**ho.metrics, "heldout/mean_reward": ho.mean_reward, "heldout/tag": tag})
        self.log.log_samples(step or 0, [{**s, "heldout": tag} for s in ho.samples[:8]])
        return ho.mean_reward

    def _checkpoint(self, state: rs.DriverState) -> None:
        d = rs.step_dir(self.ckpt_root, state.step)
        self._learner_call(self.learner.save_checkpoint, str(d / "learner"), "state", {"step": state.step},
                           str(d / "adapter"))
        state.data_cursor = self._cursor
        rs.capture_rng(state)
        rs.write_driver_state(d, state)  # last: marks the checkpoint complete
        rs.prune_checkpoints(self.ckpt_root, self.cfg.checkpoint.keep_last)

    def _resume_or_start(self) -> rs.DriverState:
        ckpt = rs.resolve_resume(self.cfg.checkpoint.resume, self.ckpt_root)
        if ckpt is None:
            manifest = self._learner_call(self.learner.export)
            self.rollout.load(manifest)
            return rs.DriverState(step=0, weight_version=manifest.version)
        state = rs.read_driver_state(ckpt)
        self._learner_call(self.learner.load_checkpoint, str(ckpt / "learner"), "state")
        self.sampler.load_state_dict(state.data_cursor)
        rs.restore_rng(state)
        manifest = self._learner_call(self.learner.republish)  # same version, fresh actors resync before use
        self.rollout.load(manifest)
        if manifest.version != state.weight_version:
            raise RuntimeError(f"resumed learner is at weight version {manifest.version}, checkpoint says {state.weight_version}")
        print(f"resumed from {ckpt} at step {state.step}, weight version {state.weight_version}", flush=True)
        return state

    def _plot(self) -> None:
        from radrl_dist.train.curves import plot_training_curves

        try:
            plot_training_curves(self.out / "metrics.jsonl", self.out / "training_curves.png")
        except (ValueError, KeyError, OSError) as exc:
            print(f"plot skipped: {exc}")


def _pairs(studies, rolls, reqs):
    it = iter(reqs)
    for s, roll in zip(studies, rolls):
        for c in roll.candidates:
            yield s, roll, next(it), c


__all__ = ["TrainingRun", "RolloutError", "ray"]
