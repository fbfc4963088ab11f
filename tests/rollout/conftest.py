"""Shared fixtures: tiny VLMs built once per session, study images, manifests from real weights.

Manifests are built the way the learner will publish them: `pack_state` over a perturbed copy of
the language-model state dict (full) or over a peft LoRA model's adapter tensors (lora).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radrl_dist.config.schema import ModelConfig, RolloutConfig, TinyModelSpec
from radrl_dist.data.schema import Study
from radrl_dist.learner.batch import TrainingSample
from radrl_dist.learner.logprobs import sample_logprobs
from radrl_dist.models.families import FAMILIES, FAMILY_NAMES
from radrl_dist.models.loading import load_policy, resolve_model_path
from radrl_dist.models.prompt_encoding import RolloutRequest
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.weight_sync.manifest import WeightManifest, pack_state

REAL_CXR = Path("/work/shared/data/real_cxr/00000001_000.png")
MAX_PROMPT = 256


def _one_per_tokenizer_layout() -> list[str]:
    firsts: dict[int, str] = {}
    for name in FAMILY_NAMES:
        firsts.setdefault(id(FAMILIES[name].tiny_tokens), name)
    return list(firsts.values())


# Families the vLLM tests start an engine for: one per tokenizer layout (a vLLM start costs ~20 s on
# the loaded 2-core CI). Qwen2.5-VL and Qwen3-VL share Qwen2-VL's tokens and checkpoint layout, so
# qwen2_vl stands for them (their HF engine tests run each); a family with its own tokens is picked up.
VLLM_FAMILIES = _one_per_tokenizer_layout()


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


def model_cfg(cache: Path, family: str = "qwen2_vl") -> ModelConfig:
    return ModelConfig(family=family, tiny=TinyModelSpec(cache_dir=str(cache)))


def rollout_cfg(engine: str = "hf", **kw) -> RolloutConfig:
    base = dict(engine=engine, group_size=3, max_new_tokens=8, temperature=1.0, cpus_per_actor=0.5)
    base.update(kw)
    return RolloutConfig(**base)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    for i in range(4):
        arr = (rng.rand(80 + 8 * i, 64, 3) * 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"img{i}.png")
    return d


def make_requests(image_dir: Path, n: int, prefix: str = "s") -> list[RolloutRequest]:
    paths = sorted(image_dir.glob("img*.png"))
    return [RolloutRequest(Study(f"{prefix}{i}", [str(paths[i % len(paths)])], "report"), seed=i) for i in range(n)]


def lm_names(state: dict) -> list[str]:
    return [k for k in state if "language_model" in k or k.startswith("lm_head")]


def full_manifest(path: Path, version: int, seed: int = 1, scale: float = 0.5,
                  skip: str | None = None) -> tuple[WeightManifest, torch.nn.Module]:
    """A perturbed copy of the language model as a 'full' manifest, and the HF model holding those weights."""
    model = load_policy(path).eval()
    state = model.state_dict()
    g = torch.Generator().manual_seed(seed)
    seen, names = set(), []
    for k in lm_names(state):  # a tied head (Gemma 3's lm_head is the embedding) is published once, as the learner does
        if state[k].data_ptr() not in seen and not (skip and skip in k):
            names.append(k)
        seen.add(state[k].data_ptr())
    new = {k: state[k] + (scale * state[k].std() * torch.randn(state[k].shape, generator=g) if state[k].ndim == 2 else 0)
           for k in names}  # the whole language model, as the learner publishes it
    model.load_state_dict(new, strict=False)
    entries, buckets = pack_state(new.items(), bucket_bytes=64 * 1024)
    return WeightManifest(version, "full", entries, buckets), model


def lora_manifest(path: Path, version: int, seed: int = 2) -> tuple[WeightManifest, torch.nn.Module]:
    """A peft LoRA adapter with non-zero B as a 'lora' manifest, and the HF model with it merged."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    model = load_policy(path).eval()
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj|down_proj)")
    peft_model = get_peft_model(model, cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    sd = get_peft_model_state_dict(peft_model)
    entries, buckets = pack_state(sd.items(), bucket_bytes=64 * 1024)
    lora_config = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}
    merged = peft_model.merge_and_unload().eval()
    return WeightManifest(version, "lora", entries, buckets, lora_config=lora_config), merged


@torch.no_grad()
def greedy_once(engine, req):
    """The engine's one greedy candidate for `req`."""
    return engine.generate([req], n=1, greedy=True)[0].candidates[0]


def load_and_check_greedy(engine, req, manifest, ref_model):
    """Load `manifest`, then the engine's greedy output must be `ref_model`'s (HF generate) at that version."""
    engine.load_weights(manifest)
    got = greedy_once(engine, req)
    assert got.weight_version == manifest.version and got.token_ids == hf_greedy(ref_model, engine, req, 8)
    return got


def hf_greedy(model, engine, request: RolloutRequest, max_new_tokens: int) -> list[int]:
    """Reference greedy tokens of `model` on the engine's own prompt inputs."""
    from radrl_dist.models.prompt_encoding import prepare_request

    p = prepare_request(engine.processor, request, MAX_PROMPT)
    tok = engine.processor.tokenizer
    out = model.generate(**p.inputs, max_new_tokens=max_new_tokens, do_sample=False, suppress_tokens=engine.suppress_ids,
                         pad_token_id=tok.pad_token_id, eos_token_id=engine.stop_ids)
    ids = out[0, p.inputs["input_ids"].shape[1]:].tolist()
    end = next((i for i, t in enumerate(ids) if t in engine.stop_ids), None)
    return ids if end is None else ids[: end + 1]


def max_logprob_gap(engine, model, requests, rollouts, temperature: float) -> float:
    """Largest |engine behaviour log-prob - learner recomputation| over all candidate tokens."""
    from radrl_dist.models.prompt_encoding import prepare_request

    samples = []
    for req, roll in zip(requests, rollouts):
        prompt = PromptInputs.from_processor(prepare_request(engine.processor, req, MAX_PROMPT).inputs)
        samples += [TrainingSample(prompt, torch.tensor(c.token_ids), torch.tensor(c.logprobs), 0.0)
                    for c in roll.candidates]
    lps = sample_logprobs(model, samples, engine.processor.tokenizer.pad_token_id, temperature=temperature,
                          suppress_ids=engine.suppress_ids, micro_batch_size=4)
    assert [len(x) for x in lps] == [len(s.behaviour_logps) for s in samples]
    return max(float((a - s.behaviour_logps).abs().max()) for a, s in zip(lps, samples))


def resolve(cache: Path, family: str = "qwen2_vl") -> Path:
    return resolve_model_path(model_cfg(cache, family))
