"""Suite-wide settings: keep everything on loopback and CPU, and make tiny-model builds shared."""

import os

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory):
    """Factory: family -> path of a tiny VLM built once per test session (deterministic, seed 0)."""
    from radrl_dist.config.schema import TinyModelSpec
    from radrl_dist.models.tiny_vlm import ensure_tiny_vlm

    cache = tmp_path_factory.mktemp("tiny_models")

    def get(family: str = "qwen2_vl"):
        return ensure_tiny_vlm(family, TinyModelSpec(cache_dir=str(cache)), 3136, 20480)

    return get
