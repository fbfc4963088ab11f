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
from ray.exceptions import ObjectLostError, RayActorError
from tqdm.auto import tqdm

from radrl_dist import object_bytes
from radrl_dist.config.loader import dump_config
from radrl_dist.cluster.run_placement import place_run
from radrl_dist.config.schema import RadRLConfig
from radrl_dist.data.reader import read_studies
from radrl_dist.learner.batch import LearnerHandoff
from radrl_dist.learner.group import LearnerGroup
from radrl_dist.learner.hf_export import export_hf_checkpoint
from radrl_dist.models.families import get_codec
from radrl_dist.models.loading import load_processor, resolve_model_path
from radrl_dist.models.prompt_encoding import prepare_request, request_for
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.rewards.pool import RouterLostError
from radrl_dist.rewards.pool.client import RewardPool
from radrl_dist.rollout.pool import RolloutPool
from radrl_dist.rollout.types import RolloutError
from radrl_dist.runtime.data_setup import resolve_data
from radrl_dist.runtime.metrics_log import MetricsLogger
from radrl_dist.runtime.ray_setup import init_ray
from radrl_dist.runtime.run_dir import prepare_output_dir
from radrl_dist.runtime.sampler import TaskMixSampler
from radrl_dist.runtime.units import unique_units
from radrl_dist.train import run_state as rs
from radrl_dist.train.assemble import sample_rows, step_advantages
from radrl_dist.train.checkpoint_manifest import MANIFEST, write_manifest
from radrl_dist.train.curves import plot_training_curves
from radrl_dist.train.heldout import (HELDOUT_SUMMARY, METRIC_LABELS, HeldOut, evaluate_heldout, gallery_samples,
                                      paired_gain, write_heldout_summary)
from radrl_dist.train.heldout_gallery import write_heldout_gallery
from radrl_dist.train.outcome import LearnerDiedError, RewardPoolLostError, RolloutLostError, TrainResult
from radrl_dist.weight_sync.sync import WeightSync


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


class TrainingRun:
    def __init__(self, cfg: RadRLConfig) -> None:
        self.cfg = cfg
        self.out = prepare_output_dir(cfg.logging.output_dir, cfg.logging.run_root, cfg.checkpoint.resume)
        self.ckpt_root = self.out / "checkpoints"
        self._resume_point: rs.ResumePoint | None = None
        self._saved_step = -1
        self.rollout = self.rewards = self.learner = self.weight_sync = None
        self.placement = None
        self._heldout_prompts = None
        self._executor = ThreadPoolExecutor(max_workers=1) if cfg.async_.max_staleness else None

    # ------------------------------------------------------------------ setup / teardown
    def __enter__(self) -> "TrainingRun":
        cfg = self.cfg
        random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        torch.manual_seed(cfg.train.seed)
        # Which checkpoint (verified) before anything starts: a bad one fails here, not after the actors.
        self._resume_point, skipped = rs.resolve_resume(cfg.checkpoint.resume, self.ckpt_root)
        for line in skipped:
            print(line, flush=True)
        self.out.mkdir(parents=True, exist_ok=True)
        print(f"output dir: {self.out}", flush=True)
        (self.out / "config.yaml").write_text(dump_config(cfg))
        self.model_path = resolve_model_path(cfg.model)
        self.processor = load_processor(self.model_path, cfg.model.min_pixels, cfg.model.max_pixels)
        data = resolve_data(cfg.data)
        self.sampler = TaskMixSampler(data.train, cfg.data.task_mix, cfg.data.studies_per_step, cfg.data.shuffle_seed,
                                      split=data.train_split)
        tasks = [t for t, w in cfg.data.task_mix.items() if w > 0]
        self.heldout_studies = unique_units(read_studies(data.eval, split=data.eval_split, tasks=tasks)[: cfg.train.eval_studies]) if data.eval else []
        init_ray(cfg.cluster)
        # the plan `--plan --cluster ray` prints, on the running cluster; every role is placed from it
        self.placement = place_run(cfg)
        print(self.placement.text, flush=True)
        self.rollout = RolloutPool(cfg.rollout, cfg.model, cfg.data.max_prompt_length, bundles=self.placement.rollout,
                                   transport=cfg.weight_sync.transport)
        self.rewards = RewardPool.create(cfg.reward, prompt_formats=dict(cfg.data.prompt_format),
                                         planned_bundles=tuple(self.placement.reward))
        self.learner = LearnerGroup(cfg, str(self.model_path), total_updates=cfg.train.steps * cfg.learner.updates_per_step,
                                    bundles=self.placement.learner)
        self.weight_sync = WeightSync(self.learner, self.rollout, cfg.weight_sync.transport, timeout_s=cfg.weight_sync.timeout_s)
        self.weight_sync.connect()
        self.rollout.open_membership()  # `python -m radrl_dist.rollout add|drain` while the run goes on
        if self._resume_point is not None:
            keep = self._resume_point.state.step  # the killed run's rows after its checkpoint are redone
        else:
            keep = None if cfg.checkpoint.resume == "never" else -1  # auto with nothing to resume: start over
        self.log = MetricsLogger(self.out, cfg.logging.jsonl, cfg.logging.tensorboard, keep_through=keep)
        return self

    def __exit__(self, *exc) -> None:
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
        closers = [self.weight_sync.close] if self.weight_sync is not None else []  # leaves its group first
        closers += [role.shutdown for role in (self.rollout, self.rewards, self.learner) if role is not None]
        closers += [self.placement.release] if self.placement is not None else []  # after the actors in it
        for close in closers:
            try:
                close()
            except Exception:  # noqa: BLE001 - teardown must not hide the run's own error
                pass
        if getattr(self, "log", None):
            self.log.close()

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        cfg = self.cfg
        state = self._resume_or_start()
        start_eval = state.extra.get("heldout_start")  # a resumed run keeps its first evaluation
        if start_eval is None and self.heldout_studies:
            ho = self._heldout("start")
            start_eval = state.extra["heldout_start"] = ho.mean_reward
            # per study, so a resumed run can still pair END with START for the gain's CI
            state.extra["heldout_start_studies"] = ho.study_values(cfg.train.heldout_metric)
        history = []
        pending = None  # async mode: the next step's rollout, running while the learner trains
        self._cursor = self.sampler.state_dict()
        object_bytes.take()  # what setup received is no step's `driver/bytes_in`
        bar = tqdm(total=cfg.train.steps, initial=state.step, desc="GRPO", disable=not cfg.logging.progress, dynamic_ncols=True)
        while state.step < cfg.train.steps:
            step = state.step + 1
            t_step = time.perf_counter()
            if pending is None:
                self.rollout.apply_membership()  # step boundary: added replicas catch up, drained ones go
                studies = unique_units(self.sampler.next_batch())
                batch, rollout_s = _timed(self._generate, step, studies)
            else:
                studies, fut = pending
                batch, rollout_s = fut.result()
                self.rollout.apply_membership()  # nothing generates until the next submit: a step boundary
            t_wait = time.perf_counter() - t_step
            self._cursor = self.sampler.state_dict()  # what a checkpoint of this step must resume from
            if self._executor and step < cfg.train.steps:  # start step+1's rollout on the current weights
                nxt = unique_units(self.sampler.next_batch())
                pending = (nxt, self._executor.submit(_timed, self._generate, step + 1, nxt))
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
        end_ho = self._heldout("end", state.step) if self.heldout_studies else None
        end_eval = end_ho.mean_reward if end_ho else None
        if cfg.checkpoint.every_n_steps:
            self._checkpoint(state)
        if cfg.checkpoint.save_final_model:
            export_hf_checkpoint(self.learner, cfg, Path(self.model_path), self.processor, self.out / "final_model")
        self._plot()
        if end_ho is not None:
            self._gallery()
        result = TrainResult(True, state.step, start_eval, end_eval, str(self.out), history)
        if end_ho is not None:
            self._report_gain(state, start_eval, end_ho)
        return result

    def _generate(self, step: int, studies, attempt: int = 0):
        """Step `step`'s rollout. The chunks come back as refs (ChunkRefs): the candidates, the prompts
        the rollout actors encoded and the score requests stay in the object store. A step generated
        again (`attempt` > 0) tags its candidates anew: the reward pool refuses an id sent twice."""
        cfg = self.cfg
        return self.rollout.generate([request_for(s, cfg.data.prompt_format, cfg.box_format) for s in studies],
                                     score_tag=str(step) if attempt == 0 else f"{step}.{attempt}",
                                     box_format=cfg.box_format)

    def _step(self, step: int, studies, batch, rollout_s: float, state: rs.DriverState, inflight=None) -> dict:
        """Reward -> advantages -> learner -> weights, moving refs: the reward pool reads the score
        requests and the learner ranks the candidates and prompt inputs straight from the object
        store; this process receives one reward per candidate and small summaries."""
        cfg = self.cfg
        regenerated = 0
        while True:
            chunks = batch.handoffs
            try:
                scores, reward_s = _timed(self._reward_call, self.rewards.score_step, [c.score_requests for c in chunks])
                adv = step_advantages(chunks, scores, cfg.grpo.advantage, cfg.grpo.eps, cfg.grpo.skip_zero_spread)
                handoff = LearnerHandoff([c.learner_part for c in chunks], adv.by_study)
                learn, learn_s = (_timed(self._learner_call, self.learner.train_on_rollouts, handoff)
                                  if adv.by_study else ({}, 0.0))
                break
            except ObjectLostError as exc:
                # A node died after its rollout actor finished a chunk: the chunk's candidates lived in that
                # node's object store. Every learner rank fetches every chunk before it trains, so nothing
                # was updated yet: generate the step again on the replicas left (the dead one is retired).
                if regenerated >= cfg.rollout.max_retries:
                    raise RolloutLostError(f"step {step}: rollout results lost again after {regenerated} "
                                           f"regeneration(s) ({type(exc).__name__}); {self._stop_hint()}") from exc
                regenerated += 1
                print(f"step {step}: rollout results lost with their node ({type(exc).__name__}); generating the "
                      f"step again on the replicas left ({regenerated}/{cfg.rollout.max_retries})", flush=True)
                if inflight is not None:  # the pool is not thread-safe: let the next step's rollout finish first
                    wait([inflight])
                batch, again_s = _timed(self._generate, step, studies, regenerated)
                rollout_s += again_s
        push, export_s = _timed(self._learner_call, self.weight_sync.publish)
        if inflight is not None:  # async: the pool is not thread-safe, and its actors would queue the
            wait([inflight])      # load behind that rollout anyway; loading under it mixes versions
        sync, sync_s = _timed(self._learner_call, self.weight_sync.deliver, push)
        object_bytes.add(sync)  # the load stats and manifest weight sync got for us (its own ray.get)
        state.weight_version = push.version
        failed = batch.failed
        m = {"weight_version": push.version, "rollout/behind_versions": push.version - 1 - batch.version,
             "rollout/regenerated": regenerated,
             "rollout/response_len": batch.stats.get("tokens", 0) / max(1, batch.stats.get("candidates", 0)),
             "rollout/failed_studies": len(failed),
             "rollout/tokens_per_s": batch.stats.get("tokens_per_s", 0.0), "time/rollout_s": rollout_s,
             "time/reward_s": reward_s, "time/learn_s": learn_s, "time/export_s": export_s, "time/sync_s": sync_s,
             "sync/bytes": sync["bytes"], "sync/seconds": export_s + sync_s, "sync/transport": sync["transport"],
             "grpo/zero_spread_fraction": adv.zero_spread_fraction, "grpo/dropped_groups": adv.dropped_groups,
             "grpo/candidates": adv.num_candidates, "data/study_ids": [s.study_id for s in studies],
             "reward/scored": scores.scored}
        m.update(scores.metrics)
        m.update({f"learner/{k}": v for k, v in learn.items() if isinstance(v, (int, float))})
        m["reward/labeler_version"] = scores.labeler_version
        if failed:
            m["rollout/failed_examples"] = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        if step % cfg.logging.samples_every == 0 or step == 1:
            limit = 2 * cfg.rollout.group_size
            try:
                self.log.log_samples(step, sample_rows(studies, _rollouts_for(studies, batch, limit),
                                                       adv.rewards_by_study, limit))
            except ObjectLostError:  # their node died after the learner read them: this step logs no samples
                m["rollout/samples_lost"] = True
        m["driver/bytes_in"] = object_bytes.take()  # everything this step pulled in (sample texts included)
        m["driver/payload_inline_bytes"] = batch.stats.get("payload_inline_bytes", 0)  # never deserialised here
        return m

    # ------------------------------------------------------------------ helpers
    def _learner_call(self, fn, *args):
        try:
            return fn(*args)
        except RayActorError as exc:
            raise LearnerDiedError(f"a learner worker died ({exc.__class__.__name__}); {self._stop_hint()}") from exc

    def _reward_call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RouterLostError as exc:
            raise RewardPoolLostError(f"{exc}; {self._stop_hint()}") from exc

    def _stop_hint(self) -> str:
        last = rs.latest_checkpoint(self.ckpt_root)
        return (f"the run stops. Last complete checkpoint: {last or 'none'}. "
                "Restart with --set checkpoint.resume=auto to continue from it.")

    def _heldout(self, tag: str, step: int | None = None) -> HeldOut:
        cfg = self.cfg
        if self._heldout_prompts is None:  # model-input sizes for box formats that need them
            self._heldout_prompts = {s.study_id: PromptInputs.from_processor(prepare_request(
                self.processor, request_for(s, cfg.data.prompt_format, cfg.box_format), cfg.data.max_prompt_length).inputs)
                for s in self.heldout_studies} if get_codec(cfg.box_format).needs_model_size else {}
        try:
            ho = self._reward_call(evaluate_heldout, self.rollout, self.rewards, self.heldout_studies,
                                   dict(cfg.data.prompt_format), cfg.box_format, tag, greedy=cfg.train.eval_greedy,
                                   prompts=self._heldout_prompts,
                                   n=1 if cfg.train.eval_greedy else cfg.rollout.group_size,
                                   model_family=cfg.model.family)
        except ObjectLostError as exc:
            raise RolloutLostError(f"held-out evaluation {tag!r}: rollout results lost again after "
                                   f"{cfg.rollout.max_retries} regeneration(s); {self._stop_hint()}") from exc
        self.log.log(step or 0, {**ho.metrics, "heldout/mean_reward": ho.mean_reward, "heldout/tag": tag,
                                 "heldout/driver_bytes_in": object_bytes.take()})
        self.log.log_samples(step or 0, [{**s, "heldout": tag} for s in gallery_samples(ho.samples)])
        return ho

    def _report_gain(self, state: rs.DriverState, start_eval: float, end_ho: HeldOut) -> None:
        """Print `held-out X: START -> END (95% CI of the gain: [lo, hi])`, log it, write heldout_summary.json."""
        metric = self.cfg.train.heldout_metric
        start = state.extra.get("heldout_start_studies")
        if start is None:  # a checkpoint from before per-study starts were kept: no pairing possible
            print(f"held-out reward: {start_eval:.4f} -> {end_ho.mean_reward:.4f} (no per-study START in the "
                  "checkpoint: no CI)", flush=True)
            return
        gain = paired_gain(start, end_ho.study_values(metric), metric, seed=self.cfg.train.seed)
        print(gain.line(), flush=True)
        self.log.log(state.step, {f"heldout_gain/{k}": v for k, v in gain.as_dict().items()})
        write_heldout_summary(self.out / HELDOUT_SUMMARY, gain, start_eval, end_ho.mean_reward, state.step)

    def _checkpoint(self, state: rs.DriverState) -> None:
        if state.step == self._saved_step:  # the end-of-run save right after a periodic one
            return
        d = rs.step_dir(self.ckpt_root, state.step)
        (d / MANIFEST).unlink(missing_ok=True)  # re-saving a step: incomplete until the new manifest
        self._learner_call(self.learner.save_checkpoint, str(d / "learner"), "state", {"step": state.step},
                           str(d / "adapter"))
        state.data_cursor = self._cursor
        rs.capture_rng(state)
        rs.write_driver_state(d, state)
        write_manifest(d)  # last: sizes and digests of every file; marks the checkpoint complete
        self._saved_step = state.step
        rs.prune_checkpoints(self.ckpt_root, self.cfg.checkpoint.keep_last)

    def _resume_or_start(self) -> rs.DriverState:
        if self._resume_point is None:
            _, sync = self._learner_call(self.weight_sync.push)
            return rs.DriverState(step=0, weight_version=sync["version"])
        ckpt, state = self._resume_point.path, self._resume_point.state
        self._learner_call(self.learner.load_checkpoint, str(ckpt / "learner"), "state")
        self.sampler.load_state_dict(state.data_cursor)
        rs.restore_rng(state)
        _, sync = self._learner_call(self.weight_sync.push, True)  # same version, fresh actors resync before use
        if sync["version"] != state.weight_version:
            raise RuntimeError(f"resumed learner is at weight version {sync['version']}, checkpoint says {state.weight_version}")
        print(f"resumed from {ckpt} at step {state.step}, weight version {state.weight_version}", flush=True)
        return state

    def _plot(self) -> None:
        try:
            plot_training_curves(self.out / "metrics.jsonl", self.out / "training_curves.png", self.cfg.train.heldout_metric)
        except (ValueError, KeyError, OSError) as exc:
            print(f"plot skipped: {exc}")

    def _gallery(self) -> None:
        metric = self.cfg.train.heldout_metric
        try:
            boxes = any(s.task == "grounding" for s in self.heldout_studies)
            title = f"held-out {METRIC_LABELS.get(metric, metric)}, one sample per study: START vs END" + (
                " (boxes: reference green, START orange, END red)" if boxes else "")
            p = write_heldout_gallery(self.out, self.heldout_studies, self.cfg.box_format, metric, title=title)
            print(f"held-out gallery: {p}", flush=True)
        except (ValueError, KeyError, OSError) as exc:
            print(f"gallery skipped: {exc}")


def _rollouts_for(studies, batch, limit: int) -> dict:
    """StudyRollouts of the first studies (in step order) until `limit` candidates: only the chunks
    holding them are fetched (sample logging is the one place the driver reads candidate texts)."""
    where = {sid: k for k, ids in enumerate(batch.study_ids) for sid in ids}
    fetched: dict[int, list] = {}
    out, n = {}, 0
    for s in studies:
        k = where.get(s.study_id)
        if k is None or n >= limit:
            continue
        if k not in fetched:
            fetched[k] = object_bytes.get(batch.refs[k])
        roll = next(r for r in fetched[k] if r.study_id == s.study_id)
        out[s.study_id] = roll
        n += len(roll.candidates)
    return out


__all__ = ["TrainingRun", "RolloutError", "ray"]
