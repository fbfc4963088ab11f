"""Connect to a Ray cluster or start a local one, with loopback and safe defaults.

`ray job submit -- python -m radrl_dist.train ...` sets RAY_ADDRESS, so the job joins the running
cluster; started bare, the driver starts a local Ray with every listening socket on 127.0.0.1.

Why the switch below: Ray 2.60 binds its servers (GCS, raylet and worker gRPC, dashboard agent,
the Prometheus exporters of the agent, dashboard and autoscaler) to loopback only when the node's IP
is exactly 127.0.0.1, and otherwise to 0.0.0.0/:: (the metrics exporters without authentication).
But `ray.init(_node_ip_address="127.0.0.1")` replaces 127.0.0.1 by the machine's address unless
`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, Ray's own switch for "a one-node cluster on this machine",
which Ray reads once when it is imported. So a local start sets it in the environment (the processes
Ray spawns read it) and on Ray's constants module (this process may have imported Ray already),
and puts both back after `ray.init`: joining a real cluster later must see the machine's address.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import ray

from ray._private import ray_constants

from radrl_dist.config.schema import ClusterConfig

# Every actor process inherits these (CPU accelerator for DeepSpeed, in-process vLLM engine on CPU).
WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def init_ray(cfg: ClusterConfig, extra_env: dict[str, str] | None = None) -> dict:
    if ray.is_initialized():
        return ray.cluster_resources()
    env = {**WORKER_ENV, **(extra_env or {})}
    for k in ("DS_ACCELERATOR", "VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_KVCACHE_SPACE"):
        if k in os.environ:
            env.setdefault(k, os.environ[k])
    runtime_env = {"env_vars": env}
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        with one_node_cluster_on_loopback():
            ray.init(
                address="local",  # never pick up a stale /tmp/ray/ray_current_cluster
                num_cpus=cfg.num_cpus,  # GPUs: Ray counts the machine's (cluster.num_gpus was removed)
                include_dashboard=False,
                runtime_env=runtime_env,
                _node_ip_address=LOOPBACK,
            )
        if ray.util.get_node_ip_address() != LOOPBACK:
            ray.shutdown()
            raise RuntimeError(f"local Ray came up on {ray.util.get_node_ip_address()}, not {LOOPBACK}: its servers "
                               "would listen on every interface; refusing to run")
    return ray.cluster_resources()


LOOPBACK = "127.0.0.1"
_ONE_NODE_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextmanager
def one_node_cluster_on_loopback() -> Iterator[None]:
    """Within: Ray keeps a local node on 127.0.0.1 (module docstring says why), then both back."""
    old_env, old_const = os.environ.get(_ONE_NODE_SWITCH), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_ONE_NODE_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_const
        if old_env is None:
            os.environ.pop(_ONE_NODE_SWITCH, None)
        else:
            os.environ[_ONE_NODE_SWITCH] = old_env
