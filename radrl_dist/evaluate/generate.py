"""Generation mode of `python -m radrl_dist.evaluate --config X --checkpoint C [--split test]`.

Runs the rollout pool (greedy by default; `--sample` uses the config's temperature) with the
checkpoint's weights over a split, and writes, per task, `predictions.jsonl` and `references.jsonl`
in the format the scoring mode reads (boxes as [x1, y1, x2, y2] in source pixels; null when the
answer holds no readable box, which scoring counts as a format failure). Boxes are parsed from the
answer the reward would read (inside <answer> for think_answer prompts), with the model-input size
of each study for formats in model-input pixels (Qwen2.5-VL), as the training loop does.
"""

from __future__ import annotations

import json
from pathlib import Path

import ray

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.data.reader import read_studies
from radrl_dist.data.schema import Study
from radrl_dist.models.families import get_codec
from radrl_dist.models.loading import load_processor
from radrl_dist.models.prompt_encoding import prepare_request, request_for
from radrl_dist.models.prompt_inputs import PromptInputs, model_input_size
from radrl_dist.rewards.format import extract_answer
from radrl_dist.rewards.pool.composite_scoring import PROMPT_FORMAT_TAGS
from radrl_dist.rollout.pool import RolloutPool
from radrl_dist.runtime.data_setup import resolve_data
from radrl_dist.runtime.ray_setup import init_ray
from radrl_dist.runtime.units import unique_units


def model_input_sizes(cfg: RadRLConfig, checkpoint: str, studies: list[Study]) -> dict[str, tuple[float, float]]:
    """study id -> (width, height) of the resized model input, for box formats in those pixels."""
    if not get_codec(cfg.box_format).needs_model_size or not studies:
        return {}
    proc = load_processor(checkpoint, cfg.model.min_pixels, cfg.model.max_pixels)
    return {s.study_id: model_input_size(PromptInputs.from_processor(prepare_request(
        proc, request_for(s, cfg.data.prompt_format, cfg.box_format), cfg.data.max_prompt_length).inputs),
        cfg.model.family) for s in studies}


def predicted_boxes(text: str, codec, image_size, answer_tag: str | None,
                    model_size: tuple[float, float] | None) -> list[list[float]] | None:
    """Boxes (source pixels) of a grounding output, read from the answer the reward reads; None when
    it holds no readable box (scoring counts a format failure)."""
    answer = extract_answer(text, answer_tag)[0] if answer_tag else text
    boxes, ok = codec.parse(answer, image_size, model_size)
    return [list(b.as_tuple()) for b in boxes] if boxes or ok else None


def generate_split(cfg: RadRLConfig, checkpoint: str, split: str, out_dir: Path, greedy: bool = True,
                   limit: int | None = None) -> dict[str, tuple[Path, Path]]:
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": checkpoint})})
    data = resolve_data(cfg.data)
    path = data.eval if split in ("test", "val") and data.eval else data.train
    tasks = [t for t, w in cfg.data.task_mix.items() if w > 0]
    rows = read_studies(path, split=split, tasks=tasks)
    if not rows and path == data.eval:  # an eval file whose rows carry another split name
        rows = read_studies(path, tasks=tasks)
    studies = unique_units(rows)[:limit]
    if not studies:
        raise ValueError(f"no studies for split {split!r} and tasks {tasks} in {path}")
    init_ray(cfg.cluster)
    pool = RolloutPool(cfg.rollout, cfg.model, cfg.data.max_prompt_length, placement_strategy=cfg.cluster.placement_strategy)
    try:
        reqs = [request_for(s, cfg.data.prompt_format, cfg.box_format) for s in studies]
        rolls = pool.generate(reqs, n=1, greedy=greedy).fetch(
            [s.study_id for s in studies])
    finally:
        pool.shutdown()
        ray.shutdown()
    codec = get_codec(cfg.box_format)
    answer_tag = PROMPT_FORMAT_TAGS.get(cfg.data.prompt_format.get("grounding", "plain"))
    model_sizes = model_input_sizes(cfg, checkpoint, [s for s in studies if s.task == "grounding"])
    out: dict[str, tuple[Path, Path]] = {}
    for task in tasks:
        d = out_dir / task
        d.mkdir(parents=True, exist_ok=True)
        preds, refs = d / "predictions.jsonl", d / "references.jsonl"
        with open(preds, "w") as fp, open(refs, "w") as fr:
            for st, roll in zip(studies, rolls):
                if st.task != task:
                    continue
                text = roll.candidates[0].text if roll.ok and roll.candidates else ""
                pred = {"study_id": st.study_id, "text": text}
                ref = {"study_id": st.study_id, "text": st.reference_report, "image_path": st.image_paths[0]}
                if task == "grounding":
                    pred["boxes"] = predicted_boxes(text, codec, st.image_size, answer_tag, model_sizes.get(st.study_id))
                    ref["boxes"] = [list(b.as_tuple()) for b in st.boxes]
                if not roll.ok:
                    pred["error"] = roll.error
                fp.write(json.dumps(pred) + "\n")
                fr.write(json.dumps(ref) + "\n")
        out[task] = (preds, refs)
    return out
