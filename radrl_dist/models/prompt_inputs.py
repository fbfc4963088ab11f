"""What the learner feeds the model for one prompt: the processor's tensors, batch dim removed.

Shared by the learner (log-prob pass), SFT, training-batch assembly and evaluation, so it lives in
`models` beside the prompt encoding that produces it, not in any one of those roles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from radrl_dist.models.families import TOKEN_TYPE_KEYS, FamilySpec, get_family


@dataclass
class PromptInputs:
    """Processor output for one prompt, batch dim removed; shared (not copied) by a group's candidates."""

    input_ids: torch.Tensor  # (P,) int64
    # (P,) int64 per-token image mask; transformers 5 needs it with images, under the family's name
    # (`token_type_key`: Qwen-VL `mm_token_type_ids`, Gemma 3 `token_type_ids`, whose image block it makes bidirectional)
    mm_token_type_ids: torch.Tensor | None = None
    pixel_values: torch.Tensor | None = None  # Qwen-VL (patches, patch_dim); Gemma 3 (images, 3, H, W)
    image_grid_thw: torch.Tensor | None = None  # (num_images, 3); Qwen-VL only
    token_type_key: str = TOKEN_TYPE_KEYS[0]

    @classmethod
    def from_processor(cls, enc: dict, row: int = 0) -> "PromptInputs":
        """From `processor(text=[one prompt], images=..., return_tensors="pt")` (padding stripped)."""
        ids = enc["input_ids"][row]
        keep = enc["attention_mask"][row].bool() if "attention_mask" in enc else torch.ones_like(ids, dtype=torch.bool)
        key = next((k for k in TOKEN_TYPE_KEYS if k in enc), TOKEN_TYPE_KEYS[0])  # the name the families register
        mm = enc.get(key)
        if enc["input_ids"].shape[0] != 1 and enc.get("pixel_values") is not None:
            raise ValueError("PromptInputs.from_processor: encode one prompt per call when it has images")
        return cls(ids[keep].clone(), None if mm is None else mm[row][keep].clone(),
                   enc.get("pixel_values"), enc.get("image_grid_thw"), key)


def model_input_size(prompt: PromptInputs | None, family: str | FamilySpec) -> tuple[float, float] | None:
    """(width, height) of the resized image the model saw, as the family computes it (box formats in
    model-input pixels, Qwen2.5-VL's, need it); None without an image."""
    return get_family(family).model_input_size(prompt) if prompt is not None else None
