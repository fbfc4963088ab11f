"""Prompt templates per task and output format, and images as the model sees them.

One place builds the chat messages so that the rollout engines and the learner's log-prob pass see
exactly the same prompt text and image.
"""

from __future__ import annotations

from radrl_dist.data.schema import Study
from radrl_dist.models.families import BOX_FORMATS

INSTRUCTIONS: dict[str, dict[str, str]] = {
    "report": {
        "plain": "Write the findings section of the radiology report for this chest X-ray.",
        "think_report": (
            "Write the findings of the radiology report for this chest X-ray. First reason inside "
            "<think></think>, then give the report inside <report></report>."
        ),
    },
    "grounding": {
        # BoxMed-RL phase I-a (medical concept learning) on phrase-grounding rows: finding -> category -> region
        "concept_chain": ("Describe the abnormal findings in this chest X-ray, one per line, each as "
                          "'Finding: ... -> Disease: ... -> Region: ...'."),
        "plain": "Locate {target} in this chest X-ray and answer with its bounding box.",
        "think_answer": (
            "Locate {target} in this chest X-ray. First reason inside <think></think>, then give the "
            "bounding box inside <answer></answer>."
        ),
    },
}

# What each box format's grounding answer looks like (DESIGN 2), appended to grounding instructions
# so the model is told which coordinates to answer in; each format's example parses with its codec.
BOX_FORMAT_HINTS: dict[str, str] = {name: fmt.hint for name, fmt in BOX_FORMATS.items()}


def instruction_for(study: Study, fmt: str, box_format: str | None = None) -> str:
    """The task's instruction; a grounding one names `box_format`'s coordinates (the run's
    `cfg.box_format`) when given. A study's own `prompt_vars["instruction"]` is used as it is."""
    table = INSTRUCTIONS[study.task]
    if fmt not in table:
        raise ValueError(f"prompt format {fmt!r} is not defined for task {study.task!r}; choose from {sorted(table)}")
    if box_format is not None and box_format not in BOX_FORMAT_HINTS:
        raise ValueError(f"unknown box format {box_format!r}; known: {sorted(BOX_FORMAT_HINTS)}")
    if study.prompt_vars.get("instruction"):
        return study.prompt_vars["instruction"]
    target = study.prompt_vars.get("target") or (study.boxes[0].phrase if study.boxes and study.boxes[0].phrase else "the abnormality")
    text = table[fmt].format(target=target)
    if study.task == "grounding" and fmt != "concept_chain" and box_format is not None:  # answers are boxes
        text += " " + BOX_FORMAT_HINTS[box_format]
    return text


def build_messages(study: Study, fmt: str, box_format: str | None = None) -> list[dict]:
    """Chat messages with one image placeholder per image path, then the instruction."""
    content = [{"type": "image"} for _ in study.image_paths]
    content.append({"type": "text", "text": instruction_for(study, fmt, box_format)})
    return [{"role": "user", "content": content}]


def prompt_text(processor, study: Study, fmt: str, box_format: str | None = None) -> str:
    return processor.apply_chat_template(build_messages(study, fmt, box_format), add_generation_prompt=True, tokenize=False)
