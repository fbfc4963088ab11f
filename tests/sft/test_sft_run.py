"""SFT on the learner group lowers held-out loss; GRPO started from its checkpoint serves exactly it."""

import json
from pathlib import Path

import pytest
import ray
import torch

from radrl_dist.config import load_config
from radrl_dist.recipes import smoke_overrides


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    from radrl_dist.sft.trainer import run_sft

    tmp = tmp_path_factory.mktemp("sft")
    cfg = load_config(None, smoke_overrides(tmp, steps=30) + [
        "data.phantom.n_train=32", "data.phantom.n_eval=8", "sft.eval_studies=8", "sft.studies_per_step=4",
        "sft.lora=false", "sft.freeze_vision=false", "sft.lr=0.003", "sft.targets={report: plain}"])
    try:
        return cfg, run_sft(cfg), tmp
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_sft_lowers_heldout_loss_and_writes_hf_checkpoint(sft_run):
    cfg, res, _ = sft_run
    assert res.heldout_nll_end < 0.7 * res.heldout_nll_start, (res.heldout_nll_start, res.heldout_nll_end)
    out = Path(res.output_dir)
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["heldout_nll_end"] == pytest.approx(res.heldout_nll_end)
    assert (out / "model.safetensors").is_file() and (out / "processor_config.json").is_file()


@pytest.mark.slow
def test_grpo_from_sft_checkpoint_serves_it_before_the_first_update(sft_run):
    """The held-out greedy outputs at GRPO's start equal plain HF greedy decoding of the SFT model."""
    from transformers import AutoModelForImageTextToText

    from radrl_dist.data.images import load_image
    from radrl_dist.data.reader import read_studies
    from radrl_dist.models.loading import load_processor
    from radrl_dist.models.prompts import prompt_text
    from radrl_dist.models.tokenizer import completion_strip_ids, decode_completion, vision_token_ids
    from radrl_dist.runtime.data_setup import resolve_data
    from radrl_dist.train.driver import run

    cfg, res, tmp = sft_run
    gcfg = load_config(None, smoke_overrides(tmp / "grpo", steps=1) + [
        "data.phantom.n_train=32", "data.phantom.n_eval=8", f"data.phantom.cache_dir={tmp / 'phantom'}",
        f"model.path={res.output_dir}", "train.eval_studies=3", "train.eval_greedy=true", "rollout.max_new_tokens=12",
        "checkpoint.save_final_model=false"])
    try:
        run(gcfg)
    finally:
        ray.shutdown()
    rows = [json.loads(line) for line in (tmp / "grpo" / "run" / "samples.jsonl").read_text().splitlines()]
    start = {r["study_id"].split("|")[0]: r["text"] for r in rows if r.get("heldout") == "start"}
    assert len(start) == 3

    data = resolve_data(gcfg.data)
    studies = {s.study_id: s for s in read_studies(data.eval, split=data.eval_split, tasks=["report"])}
    proc = load_processor(res.output_dir, gcfg.model.min_pixels, gcfg.model.max_pixels)
    model = AutoModelForImageTextToText.from_pretrained(res.output_dir).eval()
    for sid, text in start.items():
        st = studies[sid]
        enc = proc(text=[prompt_text(proc, st, "plain")], images=[load_image(st.image_paths[0])], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=12, suppress_tokens=vision_token_ids(proc.tokenizer))
        hf_text = decode_completion(proc.tokenizer, out[0, enc["input_ids"].shape[1]:].tolist(),
                                    completion_strip_ids(proc.tokenizer))
        assert text == hf_text, sid
