"""Connect to a Ray cluster or start a local one, with loopback and safe defaults.

`ray job submit -- python -m radrl_dist.train ...` sets RAY_ADDRESS, so the job joins the running
cluster; started bare, the driver starts a local Ray bound to 127.0.0.1 with the dashboard off.
"""

from __future__ import annotations

import os

from radrl_dist.config.schema import ClusterConfig

# Every actor process inherits these (CPU accelerator for DeepSpeed, in-process vLLM engine on CPU).
WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def init_ray(cfg: ClusterConfig, extra_env: dict[str, str] | None = None) -> dict:
    import ray

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
        ray.init(
            address="local",  # never pick up a stale /tmp/ray/ray_current_cluster
            num_cpus=cfg.num_cpus,
            num_gpus=cfg.num_gpus or None,
            include_dashboard=False,
            runtime_env=runtime_env,
            _node_ip_address="127.0.0.1",
        )
    return ray.cluster_resources()
