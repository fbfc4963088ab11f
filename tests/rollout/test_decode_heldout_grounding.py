"""The evaluation of a model forced to emit the reference boxes reports IoU near 1 (issue 17.1),
and evaluation reads Qwen2.5-VL boxes in model-input pixels.

A tiny Qwen2-VL is fine-tuned on one grounding study until greedy decoding reproduces its target
(`sft.targets.grounding_target`, the Qwen2-VL box format with its special-token markers); then
`python -m radrl_dist.evaluate --config --checkpoint` generates through the rollout pool and scores.
Before the fix the engine's decode dropped `<|box_start|>` & co. and this scored IoU 0.
"""

from __future__ import annotations

import json

import pytest
import ray
import torch

from radrl_dist.models.families import get_codec
from radrl_dist.config import load_config
from radrl_dist.data.reader import read_studies
from radrl_dist.evaluate.__main__ import main
from radrl_dist.evaluate.generate import model_input_sizes, predicted_boxes
from radrl_dist.learner.batch import TrainingSample, collate
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.loading import load_policy, load_processor
from radrl_dist.models.prompt_encoding import prepare_request, request_for
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.recipes import smoke_overrides
from radrl_dist.runtime.data_setup import resolve_data
from radrl_dist.runtime.units import unique_units
from radrl_dist.sft.targets import grounding_target

pytestmark = pytest.mark.slow
CONFIG = "configs/cpu_demo.yaml"


def fine_tune_on(study, base, out, cfg, steps: int = 100) -> None:
    """Fine-tune the language model on one (prompt, target) pair until its token-mean NLL is near 0
    (greedy then emits the target); saved like an SFT checkpoint. One torch thread: on a shared
    2-core machine a step takes 0.1 s instead of 2 s."""
    proc = load_processor(base, cfg.model.min_pixels, cfg.model.max_pixels)
    model = load_policy(base, "float32", "sdpa").train()
    for name, p in model.named_parameters():
        p.requires_grad_("visual" not in name)
    tok = proc.tokenizer
    prompt = prepare_request(proc, request_for(study, cfg.data.prompt_format, cfg.box_format), cfg.data.max_prompt_length)
    target = tok(grounding_target(study, cfg.box_format), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    target_ids = torch.tensor(target)
    mb = collate([TrainingSample(PromptInputs.from_processor(prompt.inputs), target_ids, torch.zeros(len(target)), 0.0)],
                 tok.pad_token_id)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            nll = -completion_logprobs(model, mb)[0].mean()
            if nll.item() < 0.02:
                break
            opt.zero_grad()
            nll.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert nll.item() < 0.05, nll.item()
    model.save_pretrained(out, safe_serialization=True)
    proc.save_pretrained(out)


def test_heldout_grounding_of_a_model_emitting_the_reference_scores_iou_above_0_9(tmp_path, tiny_vlm_dir):
    sets = smoke_overrides(tmp_path) + ["data.task_mix={grounding: 1}", "rollout.max_new_tokens=96"]
    cfg = load_config(CONFIG, sets)
    assert cfg.box_format == "qwen2_vl"
    data = resolve_data(cfg.data)
    # the study `evaluate --limit 1` takes: the first grounding unit of the test split
    rows = read_studies(data.eval, split="test", tasks=["grounding"]) or read_studies(data.eval, tasks=["grounding"])
    study = unique_units(rows)[0]
    ckpt = tmp_path / "forced"
    fine_tune_on(study, tiny_vlm_dir("qwen2_vl"), ckpt, cfg)

    argv = ["--config", CONFIG, "--checkpoint", str(ckpt), "--limit", "1", "--no-meteor", "--n-boot", "20",
            "--gallery", "0", "--out", str(tmp_path / "ev")]
    for s in sets:
        argv += ["--set", s]
    try:
        assert main(argv) == 0
    finally:
        ray.shutdown()
    pred = json.loads((tmp_path / "ev" / "grounding" / "predictions.jsonl").read_text().splitlines()[0])
    m = json.loads((tmp_path / "ev" / "grounding" / "metrics.json").read_text())
    assert m["mean_iou"] > 0.9, (m["mean_iou"], pred)
    assert "<|box_start|>" in pred["text"] and m["format_rate"] == 1.0


def test_generation_reads_qwen2_5_vl_boxes_in_model_input_pixels(tmp_path, tiny_vlm_dir):
    """Evaluation of a Qwen2.5-VL box format maps through each study's resized input (it raised
    'pass model_size' before) and reads the boxes inside <answer>."""
    ckpt = tiny_vlm_dir("qwen2_5_vl")
    cfg = load_config(CONFIG, smoke_overrides(tmp_path) + ["model.family=qwen2_5_vl", f"model.path={ckpt}",
                                                           "data.task_mix={grounding: 1}"])
    data = resolve_data(cfg.data)
    studies = unique_units(read_studies(data.eval, tasks=["grounding"]))[:2]
    sizes = model_input_sizes(cfg, str(ckpt), studies)
    assert set(sizes) == {s.study_id for s in studies}
    for st in studies:
        assert sizes[st.study_id] != tuple(st.image_size)  # the resized input, not the source image
        text = grounding_target(st, "qwen2_5_vl", think=True, model_size=sizes[st.study_id])
        got = predicted_boxes(text, get_codec("qwen2_5_vl"), st.image_size, "answer", sizes[st.study_id])
        assert len(got) == len(st.boxes)
        pixel = max(st.image_size[0] / sizes[st.study_id][0], st.image_size[1] / sizes[st.study_id][1])
        for g, b in zip(got, st.boxes):  # exact up to rounding to whole model-input pixels
            assert max(abs(x - y) for x, y in zip(g, b.as_tuple())) <= 0.5 * pixel + 1e-9, (g, b)
    assert predicted_boxes("<answer>no box</answer>", get_codec("qwen2_5_vl"), (10, 10), "answer", (28, 28)) is None
