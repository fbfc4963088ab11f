"""Shared pieces of the GRPO-loop tests: tiny settings, one in-process Ray, a hookable in-process run.

Why one Ray for the in-process tests: starting Ray costs tens of seconds on this machine, a run's
own actors a few more; every TrainingRun tears its actors down on exit, and each run names its
reward router uniquely, so runs in one Ray do not see each other. Tests that kill a process run the
CLI as a subprocess with its own Ray.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def tiny_overrides(out: Path | str, tag: str, **extra) -> list[str]:
    """CPU-tiny run: 2 studies x G=2, 8 new tokens, 16 phantom training studies, no TensorBoard."""
    base = {
        "train.warm_start_sft": False, "train.steps": 4, "train.eval_studies": 2, "train.eval_every": 0,
        "data.studies_per_step": 2, "data.phantom.n_train": 16, "data.phantom.n_eval": 4,
        "data.phantom.cache_dir": str(REPO / "cache" / "phantom"),
        "model.tiny.cache_dir": str(REPO / "cache" / "tiny_models"),
        "rollout.group_size": 2, "rollout.max_new_tokens": 8,
        "logging.tensorboard": False, "logging.progress": False, "checkpoint.save_final_model": False,
        "checkpoint.every_n_steps": 0,  # the demo config checkpoints; runs that test it ask for it
        "cluster.num_cpus": 4, "logging.output_dir": str(out), "reward.pool_name": f"radrl-test-{tag}",
    }
    base.update(extra)
    return [f"{k}={_yaml(v)}" for k, v in base.items()]


def _yaml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def train_rows(metrics_path: Path) -> list[dict]:
    """The per-step training rows of metrics.jsonl (held-out rows share step numbers; skip them)."""
    from radrl_dist.runtime.metrics_log import read_metrics

    return [r for r in read_metrics(metrics_path) if "reward/mean" in r]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray (4 logical CPUs, loopback) for every in-process run; shut down at the end."""
    import ray

    from radrl_dist.config.schema import ClusterConfig
    from radrl_dist.runtime.ray_setup import init_ray

    init_ray(ClusterConfig(num_cpus=4))
    yield ray
    ray.shutdown()


def learner_pids(tr) -> list[int]:
    import ray

    return ray.get([w.__ray_call__.remote(lambda self: os.getpid()) for w in tr.learner.workers], timeout=60)


def after_step(tr, fn: Callable[[int], None]) -> None:
    """Call fn(step) in the driver thread right after each step's metrics are logged (fault drills)."""
    log = tr.log.log

    def hooked(step, metrics):
        log(step, metrics)
        if "reward/mean" in metrics:
            fn(step)

    tr.log.log = hooked


def run_in_process(cfg, setup: Callable | None = None, after: Callable | None = None):
    """Build a TrainingRun, let `setup(tr, extras)` install drills, train, then `after(tr, extras)`
    while the roles are still up. Returns (TrainResult or the exception raised, stdout, extras)."""
    from radrl_dist.train.loop import TrainingRun

    buf = io.StringIO()
    extras: dict = {}
    outcome = None
    with contextlib.redirect_stdout(buf):
        try:
            with TrainingRun(cfg) as tr:
                if setup:
                    setup(tr, extras)
                outcome = tr.train()
                if after:
                    after(tr, extras)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on it
            outcome = exc
            extras["traceback"] = traceback.format_exc()
    return outcome, buf.getvalue(), extras


def phrase_copy(tmp: Path) -> str:
    """The packaged rule-labeller phrase files plus a comment: same labels, a new labeller version."""
    import shutil

    import radrl_dist.labelers as lab

    dst = tmp / "phrases_v2"
    shutil.copytree(Path(lab.__file__).parent / "phrases", dst)
    with open(dst / "mentions.yaml", "a") as fh:
        fh.write("\n# v2: re-released for the training swap drill\n")
    return str(dst)


@pytest.fixture(scope="session")
def sync_run(local_ray, tmp_path_factory):
    """The reference run: 4 steps, 2-worker DeepSpeed ZeRO-2 group, weights over rdt, and a reward swap started from
    another thread after step 1 (the driver waits for it before step 4, so step 4 is scored by the
    new labeller). Shared by the metrics, swap and resume tests."""
    from radrl_dist.config import load_config
    from radrl_dist.rewards.pool.client import RewardPool

    tmp = tmp_path_factory.mktemp("sync_run")
    out = tmp / "run"
    # weight sync over rdt: the one end-to-end run of Ray Direct Transport with the real DeepSpeed
    # learner (its ranks then run as Ray tensor-transport actors); the other runs use objref
    cfg = load_config(None, tiny_overrides(out, "sync", **{"learner.num_workers": 2, "learner.zero_stage": 2,
                                                           "weight_sync.transport": "rdt"}))
    spec = f"rules:{phrase_copy(tmp)}"

    def setup(tr, extras):
        extras["pids_before"] = learner_pids(tr)
        extras["world"] = tr.learner.world
        swap_out: dict = {}

        def swap():
            try:
                swap_out["result"] = RewardPool.connect(cfg.reward.pool_name, cfg.reward.pool_namespace).swap(spec)
            except Exception as exc:  # noqa: BLE001
                swap_out["error"] = exc

        worker = threading.Thread(target=swap, daemon=True)

        def drill(step):
            if step == 1:
                worker.start()
            if step == cfg.train.steps - 1:
                worker.join(timeout=180)
                extras["swap"] = swap_out

        after_step(tr, drill)

    def after(tr, extras):
        extras["pids_after"] = learner_pids(tr)

    t0 = time.perf_counter()
    outcome, stdout, extras = run_in_process(cfg, setup, after)
    extras["wall_s"] = time.perf_counter() - t0
    return {"cfg": cfg, "out": out, "outcome": outcome, "stdout": stdout, **extras}
