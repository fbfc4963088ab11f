"""Generation mode of `python -m radrl_dist.evaluate --config X --checkpoint C [--split test]`.

Runs the rollout pool (greedy by default; `--sample` uses the config's temperature) with the
checkpoint's weights over a split, and writes, per task, `predictions.jsonl` and `references.jsonl`
in the format the scoring mode reads (boxes as [x1, y1, x2, y2] in source pixels).
"""

from __future__ import annotations

import json
from pathlib import Path

from radrl_dist.config.schema import RadRLConfig


def generate_split(cfg: RadRLConfig, checkpoint: str, split: str, out_dir: Path, greedy: bool = True,
                   limit: int | None = None) -> dict[str, tuple[Path, Path]]:
    import ray

    from radrl_dist.boxes.codecs import get_codec
    from radrl_dist.data.reader import read_studies
    from radrl_dist.rollout.pool import RolloutPool
    from radrl_dist.rollout.types import RolloutRequest
    from radrl_dist.train.assemble import unique_units
    from radrl_dist.train.data_setup import resolve_data
    from radrl_dist.train.ray_setup import init_ray

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
        fmt = cfg.data.prompt_format
        rolls = pool.generate([RolloutRequest(s, fmt[s.task]) for s in studies], n=1, greedy=greedy).fetch(
            [s.study_id for s in studies])
    finally:
        pool.shutdown()
        ray.shutdown()
    codec = get_codec(cfg.box_format)
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
                    boxes, _ = codec.parse(text, st.image_size)
                    pred["boxes"] = [list(b.as_tuple()) for b in boxes]
                    ref["boxes"] = [list(b.as_tuple()) for b in st.boxes]
                if not roll.ok:
                    pred["error"] = roll.error
                fp.write(json.dumps(pred) + "\n")
                fr.write(json.dumps(ref) + "\n")
        out[task] = (preds, refs)
    return out
