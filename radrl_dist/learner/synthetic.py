"""A fixed GRPO batch on a local model, for tests and bench/learner.py (no rollout engine needed).

Prompts are real chat prompts with an image (processor inputs exactly as a rollout engine would
get them); completions are random ordinary tokens; behaviour log-probs are the model's own, so the
first update is on-policy (ratio 1), as in a real synchronous step.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from radrl_dist.data.images import load_image
from radrl_dist.data.schema import Study
from radrl_dist.grpo.advantages import group_advantages
from radrl_dist.learner.batch import TrainingSample, collate
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.loading import load_policy, load_processor
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.models.prompts import prompt_text
from radrl_dist.models.tokenizer import vision_token_ids

REAL_CXR = Path("/work/shared/data/real_cxr")


def _images(n: int, seed: int):
    real = sorted(REAL_CXR.glob("*.png")) if REAL_CXR.is_dir() else []
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        if real:
            out.append(load_image(real[i % len(real)]))
        else:
            arr = (torch.rand(96, 80, generator=g) * 255).to(torch.uint8).numpy()
            out.append(Image.fromarray(arr).convert("RGB"))
    return out


def synthetic_candidates(model_path: str | Path, n_prompts: int = 2, group_size: int = 4, max_len: int = 12,
                         seed: int = 0, min_pixels: int | None = None, max_pixels: int | None = None,
                         model=None) -> list[TrainingSample]:
    proc = load_processor(model_path, min_pixels, max_pixels)
    model = model if model is not None else load_policy(model_path).eval()
    tok = proc.tokenizer
    special = set(tok.all_special_ids) | {getattr(model.config, k, None) for k in ("image_token_id", "video_token_id")}
    ordinary = torch.tensor([i for i in range(len(tok)) if i not in special])
    g = torch.Generator().manual_seed(seed)
    rewards = torch.rand(n_prompts, group_size, generator=g)
    adv = group_advantages(rewards).advantages
    cands = []
    for p, img in enumerate(_images(n_prompts, seed)):
        study = Study(study_id=f"synthetic-{p}", image_paths=["img.png"], task="report")
        enc = proc(text=[prompt_text(proc, study, "plain")], images=[img], return_tensors="pt")
        prompt = PromptInputs.from_processor(enc)
        for k in range(group_size):
            n = int(torch.randint(max_len // 2, max_len + 1, (1,), generator=g))
            ids = ordinary[torch.randint(len(ordinary), (n,), generator=g)]
            cands.append(TrainingSample(prompt, ids, torch.zeros(n), float(adv[p, k]), group=p, version=0))
    suppress = vision_token_ids(tok)  # the sampled policy: vision tokens at -inf, as in the engines
    with torch.no_grad():
        for c in cands:  # behaviour log-probs: the generating model's, one candidate at a time
            logp, _ = completion_logprobs(model, collate([c], tok.pad_token_id or 0), suppress_ids=suppress)
            c.behaviour_logps = logp[0].float().clone()
    return cands
