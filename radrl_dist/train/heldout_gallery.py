"""The end-of-run held-out gallery: the same held-out studies' outputs at START and at END.

Built from samples.jsonl (each evaluation logs the first sample of the same first studies, see
heldout.gallery_samples), so a resumed run still shows the START outputs of the run it continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from radrl_dist.data.schema import Study
from radrl_dist.evaluate.gallery import start_end_figure
from radrl_dist.models.families import get_codec
from radrl_dist.rewards.format import extract_answer
from radrl_dist.runtime.metrics_log import read_metrics

GALLERY_PNG = "heldout_gallery.png"


def answer_boxes(text: str, study: Study, box_format: str) -> list[list[float]]:
    """Boxes of a grounding output in source pixels (none when unparsable or the format needs the
    model-input size, which the gallery does not keep)."""
    if get_codec(box_format).needs_model_size:
        return []
    answer, _ = extract_answer(text, "answer")
    boxes, _ = get_codec(box_format).parse(answer, study.image_size)
    return [list(b.as_tuple()) for b in boxes]


def _score(sample: dict, metric: str) -> float:
    return float(sample["reward"] if metric == "reward" else (sample.get("components") or {}).get(metric, 0.0))


def gallery_rows(samples: Sequence[dict], studies: Sequence[Study], box_format: str, metric: str = "reward",
                 max_rows: int = 6) -> list[dict]:
    """One row per held-out study that has a START and an END sample (the first START, the last END)."""
    start: dict[str, dict] = {}
    end: dict[str, dict] = {}
    for s in samples:
        if s.get("heldout") == "start":
            start.setdefault(s["study_id"], s)
        elif s.get("heldout") == "end":
            end[s["study_id"]] = s
    rows = []
    for st in studies:
        a, b = start.get(st.study_id), end.get(st.study_id)
        if a is None or b is None:
            continue
        row = {"study_id": st.study_id, "image_path": st.image_paths[0] if st.image_paths else None,
               "start_text": a["text"], "end_text": b["text"],
               "start_score": _score(a, metric), "end_score": _score(b, metric)}
        if st.task == "grounding":
            row["reference"] = f"locate {st.prompt_vars.get('target', 'the finding')!r} (green box)"
            row["ref_boxes"] = [list(bx.as_tuple()) for bx in st.boxes]
            row["start_boxes"] = answer_boxes(a["text"], st, box_format)
            row["end_boxes"] = answer_boxes(b["text"], st, box_format)
        else:
            row["reference"] = st.reference_report
        rows.append(row)
        if len(rows) == max_rows:
            break
    return rows


def write_heldout_gallery(run_dir: str | Path, studies: Sequence[Study], box_format: str, metric: str = "reward",
                          title: str = "") -> Path:
    run_dir = Path(run_dir)
    rows = gallery_rows(read_metrics(run_dir / "samples.jsonl"), studies, box_format, metric)
    return start_end_figure(rows, run_dir / GALLERY_PNG, title=title)
