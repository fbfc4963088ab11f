"""Turn a request into the exact prompt inputs both the engine and the learner use.

One function so that vLLM, HF generate and the learner's log-prob pass see the same text, image
and token ids; the length check lives here so no engine ever truncates a prompt silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from radrl_dist.data.images import load_image
from radrl_dist.data.schema import Study
from radrl_dist.models.prompts import prompt_text


@dataclass(frozen=True)
class RolloutRequest:
    """One study to sample for, with the prompt format of its task, an optional sampling seed and the
    run's box format (a grounding prompt names its coordinates; None: no coordinate hint)."""

    study: Study
    fmt: str = "plain"
    seed: int | None = None
    box_format: str | None = None

    @property
    def study_id(self) -> str:
        return self.study.study_id


class PromptTooLongError(ValueError):
    """A study's prompt (image tokens included) exceeds the prompt budget; never truncated."""


@dataclass
class PreparedPrompt:
    study_id: str
    text: str
    images: list[Image.Image]
    inputs: dict[str, Any]  # processor output for this one prompt (batch dim 1), what the learner re-uses

    @property
    def prompt_ids(self) -> list[int]:
        return self.inputs["input_ids"][0].tolist()


def encode_prompt(processor, text: str, images: list[Image.Image]) -> dict[str, Any]:
    """Processor inputs of one prompt (input_ids, attention_mask, pixel_values, image_grid_thw, mm_token_type_ids)."""
    enc = processor(text=[text], images=images or None, return_tensors="pt")
    return dict(enc)


def request_for(study: Study, prompt_format: Mapping[str, str], box_format: str | None) -> RolloutRequest:
    """The one way a run turns a study into a request (training, held-out, SFT and evaluation alike,
    so all of them see the same prompt): its task's prompt format and the run's box format."""
    return RolloutRequest(study, prompt_format[study.task], box_format=box_format)


def prepare_request(processor, req: RolloutRequest, max_prompt_length: int) -> PreparedPrompt:
    """Load images, render the chat prompt and encode it; raise a per-study error when too long."""
    study = req.study
    if not study.image_paths:
        raise ValueError(f"study {study.study_id}: no image_paths")
    images = [load_image(p) for p in study.image_paths]
    text = prompt_text(processor, study, req.fmt, req.box_format)
    inputs = encode_prompt(processor, text, images)
    n = int(inputs["input_ids"].shape[1])
    if n > max_prompt_length:
        raise PromptTooLongError(
            f"study {study.study_id}: prompt is {n} tokens (image tokens included), over the limit of "
            f"{max_prompt_length}; lower model.max_pixels or raise data.max_prompt_length (prompts are never truncated)"
        )
    return PreparedPrompt(study.study_id, text, images, inputs)
