import os

import pytest

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session")
def tiny_path():
    """The default tiny Qwen2-VL (built once into cache/tiny_models, shared with other test areas)."""
    from radrl_dist.config.schema import ModelConfig
    from radrl_dist.models.loading import resolve_model_path

    return resolve_model_path(ModelConfig())


@pytest.fixture(scope="session")
def suppress(tiny_path):
    """Vision token ids: the learner's (and the engines') policy has them at -inf."""
    from radrl_dist.models.tokenizer import vision_token_ids_at

    return vision_token_ids_at(tiny_path)


@pytest.fixture(scope="session")
def fixed_batch(tiny_path):
    from radrl_dist.learner.synthetic import synthetic_candidates

    return synthetic_candidates(tiny_path, n_prompts=2, group_size=4, max_len=10, seed=0)


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
