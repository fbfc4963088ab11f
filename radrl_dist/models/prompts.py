"""Prompt templates per task and output format, and images as the model sees them.

One place builds the chat messages so that the rollout engines and the learner's log-prob pass see
exactly the same prompt text and image.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from radrl_dist.data.schema import Study

INSTRUCTIONS: dict[str, dict[str, str]] = {
    "report": {
        "plain": "Write the findings section of the radiology report for this chest X-ray.",
        "think_report": (
            "Write the findings of the radiology report for this chest X-ray. First reason inside "
            "<think></think>, then give the report inside <report></report>."
        ),
    },
    "grounding": {
        "plain": "Locate {target} in this chest X-ray and answer with its bounding box.",
        "think_answer": (
            "Locate {target} in this chest X-ray. First reason inside <think></think>, then give the "
            "bounding box inside <answer></answer>."
        ),
    },
}


class ImageLoadError(ValueError):
    """A study's image is missing or unreadable (reported by study id, never silently skipped)."""


def load_image(path: str | Path) -> Image.Image:
    """RGB PIL image (grayscale radiographs are replicated to 3 channels, as the processors expect)."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ImageLoadError(f"cannot read image {path}: {exc}") from exc


def instruction_for(study: Study, fmt: str) -> str:
    table = INSTRUCTIONS[study.task]
    if fmt not in table:
        raise ValueError(f"prompt format {fmt!r} is not defined for task {study.task!r}; choose from {sorted(table)}")
    target = study.prompt_vars.get("target") or (study.boxes[0].phrase if study.boxes and study.boxes[0].phrase else "the abnormality")
    return study.prompt_vars.get("instruction") or table[fmt].format(target=target)


def build_messages(study: Study, fmt: str) -> list[dict]:
    """Chat messages with one image placeholder per image path, then the instruction."""
    content = [{"type": "image"} for _ in study.image_paths]
    content.append({"type": "text", "text": instruction_for(study, fmt)})
    return [{"role": "user", "content": content}]


def prompt_text(processor, study: Study, fmt: str) -> str:
    return processor.apply_chat_template(build_messages(study, fmt), add_generation_prompt=True, tokenize=False)
