"""Rollout throughput: the pool (Ray actor) vs the bare engine on the same prompts; 1 vs 2 actors.

Usage: python bench/rollout.py [--engine vllm|hf] [--studies 16] [--group-size 4] [--max-new-tokens 64]
Prints human-readable lines, then one JSON line with pool_vs_engine_tokens_per_s (pool tokens/s over
bare-engine tokens/s, same process count, same prompts) and candidates_per_s_1 / _2.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def random_image_requests(n: int, d: Path):
    """n report requests on random 96x80 images written to `d` (seeded; shared with bench/dispatch.py)."""
    from radrl_dist.data.schema import Study
    from radrl_dist.models.prompt_encoding import RolloutRequest

    rng = np.random.RandomState(0)
    reqs = []
    for i in range(n):
        p = d / f"img{i}.png"
        Image.fromarray((rng.rand(96, 80, 3) * 255).astype(np.uint8)).save(p)
        reqs.append(RolloutRequest(Study(f"b{i}", [str(p)], "report"), seed=i))
    return reqs


def _timed(fn, reps: int):
    fn()  # warm-up
    toks = cands = 0
    t0 = time.perf_counter()
    for _ in range(reps):
        t, c = fn()
        toks, cands = toks + t, cands + c
    dt = time.perf_counter() - t0
    return toks / dt, cands / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    ap.add_argument("--studies", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    # Ray gives an actor with num_cpus < 1 one OMP thread; the bare engine gets the same, or the
    # ratio would measure thread counts instead of the wrapper.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray

    from radrl_dist.config.schema import ModelConfig, RolloutConfig, TinyModelSpec
    from radrl_dist.models.loading import resolve_model_path
    from radrl_dist.rollout.actor import RolloutWorker
    from radrl_dist.rollout.pool import RolloutPool

    tmp = Path(tempfile.mkdtemp(prefix="radrl_bench_rollout_"))
    model = ModelConfig(tiny=TinyModelSpec(cache_dir=str(tmp / "models")))
    resolve_model_path(model)
    reqs = random_image_requests(args.studies, tmp)
    mk = lambda n: RolloutConfig(engine=args.engine, num_actors=n, group_size=args.group_size,  # noqa: E731
                                 max_new_tokens=args.max_new_tokens, cpus_per_actor=0.5)

    worker = RolloutWorker(mk(1), model, 512)
    def bare():
        _, rolls = worker.generate(reqs, 0)
        cs = [c for r in rolls for c in r.candidates]
        return sum(c.num_tokens for c in cs), len(cs)
    eng_tps, eng_cps = _timed(bare, args.reps)
    print(f"bare {args.engine} engine: {eng_tps:.1f} tokens/s, {eng_cps:.2f} candidates/s")
    del worker

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    out = {}
    for n in (1, 2):
        pool = RolloutPool(mk(n), model, 512)
        def pooled():
            b = pool.generate(reqs)
            return b.stats["tokens"], b.stats["candidates"]
        out[n] = _timed(pooled, args.reps)
        print(f"pool with {n} actor(s): {out[n][0]:.1f} tokens/s, {out[n][1]:.2f} candidates/s")
        pool.shutdown()
    ray.shutdown()
    ratio = out[1][0] / eng_tps
    print(f"pool (1 actor) / bare engine tokens/s = {ratio:.3f} (wrapper overhead {100 * (1 - ratio):.1f} %)")
    print(json.dumps({"engine": args.engine, "studies": args.studies, "group_size": args.group_size,
                      "max_new_tokens": args.max_new_tokens, "engine_tokens_per_s": round(eng_tps, 2),
                      "pool_tokens_per_s_1": round(out[1][0], 2), "pool_vs_engine_tokens_per_s": round(ratio, 4),
                      "candidates_per_s_1": round(out[1][1], 3), "candidates_per_s_2": round(out[2][1], 3)}))


if __name__ == "__main__":
    main()
