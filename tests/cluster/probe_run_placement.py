"""Driver against a running multi-node cluster (RAY_ADDRESS set): place runs from their plans and
report where every actor actually runs, as one JSON line per config on stdout.

- "demo": the CPU demo config (tiny settings) as a real TrainingRun: its printed plan, where each
  rollout replica, learner rank and labeller actor runs, then one GRPO step through that placement
  (held-out evaluation skipped: it is not about placement).
- recipe-shaped configs scaled down: `place_run` (the run's own placement) and `--plan --cluster ray`
  must print the same plan; one small probe actor per planned bundle is started through the same
  ActorGroup / reserve_bundle path the roles use (the recipes' vLLM/GPU actors cannot run on this
  CPU machine; the nodes' GPUs are logical Ray resources, standing in for real ones).
"""

import json
import sys
import time

import ray
from ray.util.placement_group import placement_group_table

from radrl_dist.cluster.actor_group import ActorGroup, reserve_bundle, wait_placed
from radrl_dist.cluster.render import print_plan
from radrl_dist.cluster.run_placement import place_run
from radrl_dist.config import load_config
from tests.train.conftest import tiny_overrides

RECIPES = {
    "radvlm_scaled": ("configs/radvlm_grpo.yaml", ["rollout.num_actors=2", "learner.num_workers=2"]),
    "mrg_r1_kuberay_scaled": ("configs/mrg_r1_mimic.yaml", [
        "rollout.num_actors=1", "rollout.gpus_per_actor=2", "rollout.tensor_parallel_size=2",
        "learner.num_workers=2", "reward.num_actors=2", "reward.gpus_per_actor=0.5"]),
}


def here() -> dict:
    ctx = ray.get_runtime_context()
    return {"ip": ray.util.get_node_ip_address(), "node_id": ctx.get_node_id(), "pg": ctx.get_placement_group_id()}


def actual(role: str, index: int, handle, pg_hex: str, bundle_index: int) -> dict:
    """Where the actor runs (asked inside it) and where Ray put the bundle it was given."""
    got = ray.get(handle.__ray_call__.remote(lambda self: here()), timeout=120)
    bundle_node = placement_group_table()[pg_hex]["bundles_to_node_id"][bundle_index]
    return {"role": role, "index": index, **got, "given_pg": pg_hex, "bundle_node_id": bundle_node}


def demo(out_dir: str) -> dict:
    from radrl_dist.train.loop import TrainingRun

    cfg = load_config(None, tiny_overrides(out_dir, "placement", **{"train.steps": 1}))
    rows = []
    with TrainingRun(cfg) as tr:
        for role, group in (("rollout", tr.rollout.group), ("learner", tr.learner.group)):
            rows += [actual(role, i, m.handle, m.bundle.pg.id.hex(), m.bundle.index) for i, m in enumerate(group.members)]
        for i in range(cfg.reward.num_actors):  # each labeller in the one-bundle group the pool made for it
            group_name = f"{cfg.reward.pool_namespace}/{cfg.reward.pool_name}-a{i}"
            pg = next(k for k, v in placement_group_table().items() if v["name"] == group_name and v["state"] == "CREATED")
            rows.append(actual("reward", i, tr.rewards.actor(f"a{i}"), pg, 0))
        tr.heldout_studies = []  # one GRPO step through this placement; no held-out evaluation
        result = tr.train()
        text = tr.placement.text
    return {"config": "demo", "plan": text, "actors": rows, "steps": result.steps_done}


@ray.remote(num_cpus=0)
class Probe:
    pass


def recipe(name: str, path: str, sets: list[str]) -> dict:
    cfg = load_config(path, sets)
    placed = place_run(cfg, timeout_s=60)
    printed = print_plan(cfg, "ray")  # what `python -m radrl_dist.train --plan --cluster ray` prints
    rows = []
    groups = {role: ActorGroup(role, Probe) for role in ("rollout", "learner", "reward")}
    try:
        for role in ("rollout", "learner"):
            for i, b in enumerate(getattr(placed, role)):
                h = groups[role].spawn_into(b)
                rows.append(actual(role, i, h, b.pg.id.hex(), b.index))
        for i, res in enumerate(placed.reward):  # as the reward pool does: a group per labeller actor
            b = reserve_bundle(res, name=f"probe-{name}-reward-{i}")
            wait_placed([b], 60, f"reward {i}")
            h = groups["reward"].spawn_into(b)
            rows.append(actual("reward", i, h, b.pg.id.hex(), 0))
    finally:
        for g in groups.values():
            g.shutdown()
        placed.release()
    return {"config": name, "plan": placed.text, "printed": printed, "actors": rows}


def main() -> None:
    t0 = time.perf_counter()
    print(json.dumps(demo(sys.argv[1])), flush=True)  # the run joins the cluster (RAY_ADDRESS) itself
    print(f"demo: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    for name, (path, sets) in RECIPES.items():
        t0 = time.perf_counter()
        print(json.dumps(recipe(name, path, sets)), flush=True)
        print(f"{name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
