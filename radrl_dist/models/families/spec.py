"""What a model family is, in one record: every fact the rest of the package asks about a family.

Why one record: before it these facts were spread over ten files (HF classes in the tiny builder,
special tokens in the tokenizer, `".visual."` in the learner, legacy weight prefixes in the vLLM
engine, `== "qwen2_5_vl"` and patch 14 in batch assembly), and a new family missed some of them.
A family file (`families/<name>.py`) fills one `FamilySpec`; `families/__init__.py` registers it.

This module imports nothing heavy: the config schema derives its family Literal from the registry,
so loading a config must not import torch or transformers. HF classes are named by dotted path and
resolved on use; prompt inputs are read by attribute (duck-typed `PromptInputs`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from radrl_dist.boxes.codecs import BoxTextFormat

Size = tuple[float, float]


def resolve(dotted: str) -> Any:
    """`"package.module.Name"` -> the object (HF classes are named, not imported, by a spec)."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class TinyTokens:
    """The locally trained tokenizer of a family's tiny model: the special tokens its chat template
    and processor need, named as in the real tokenizer, so code written against it works on theirs."""

    special: tuple[str, ...]  # every special token, in id order (the first ones get ids 0, 1, ...)
    bos: str | None
    eos: str  # the end-of-turn token (what a completion ends with)
    pad: str
    chat_template: str
    named: Mapping[str, str] = field(default_factory=dict)  # processor-facing names (Gemma's boi/eoi/image token)
    whole: tuple[str, ...] = ()  # non-special pieces the real vocab has as one token (and code looks up)


@dataclass(frozen=True)
class FamilySpec:
    """One model family. Field groups: HF classes, tokens, weights, prompt inputs, boxes, tiny build."""

    name: str
    model_types: tuple[str, ...]  # `model_type` values in config.json of this family's checkpoints
    # HF classes (dotted paths)
    config_class: str
    model_class: str
    image_processor_class: str  # the tiny build saves one (a PIL processor: no torchvision needed)
    processor_class: str | None  # set when the processor has its own config to save (Gemma 3's image_seq_length)
    # tokens
    tiny_tokens: TinyTokens
    stop_tokens: tuple[str, ...]  # generation ends at any of these; the first closes an SFT target
    vision_tokens: tuple[str, ...]  # never sampled: a sampled image placeholder breaks the scoring pass
    grounding_tokens: tuple[str, ...]  # special tokens a box codec reads; completion text keeps them
    # weights
    vision_modules: tuple[str, ...]  # module names whose parameters are the vision tower (+ projector)
    checkpoint_prefixes: tuple[tuple[str, str], ...]  # HF state-dict prefix -> prefix in files saved by transformers
    fused_layers: tuple[tuple[str, ...], ...]  # sibling projections vLLM loads into one layer
    # file-key prefix as transformers saves it -> as the family's published checkpoints have it (what vLLM loads)
    published_prefixes: tuple[tuple[str, str], ...]
    # prompt inputs
    pixel_bounds: bool  # the processor resizes within model.min_pixels..max_pixels (else a fixed size)
    token_type_key: str  # the processor's per-token image/text mask, a model input under this name
    model_input_size: Callable[[Any], Size | None]  # (width, height) of the resized image the model saw
    # boxes
    box_format: str  # the box text format the family answers grounding prompts in (a shared one or its own)
    # tiny build: config kwargs from (TinyModelSpec, tokenizer); image-processor kwargs from (config, min_px, max_px)
    tiny_config: Callable[[Any, Any], dict]
    tiny_image_processor: Callable[[Any, int, int], dict]
    tiny_processor: Callable[[Any], dict] = lambda config: {}  # extra processor kwargs (processor_class only)
    # a box format only this family uses, defined in its file (named `box_format`); None: a shared one
    own_box_format: BoxTextFormat | None = None

    def checkpoint_key(self, name: str, keys: set[str] | frozenset[str]) -> str | None:
        """The key in the checkpoint files holding state-dict weight `name`, or None when absent."""
        if name in keys:
            return name
        for new, old in self.checkpoint_prefixes:
            if name.startswith(new) and old + name[len(new):] in keys:
                return old + name[len(new):]
        return None

    def layer_group(self, name: str) -> list[str]:
        """Every state-dict name vLLM loads into the same layer as `name` (weight, bias, fused siblings).

        vLLM's layerwise reload materialises a layer only from what it receives: a layer given part of
        its tensors (q_proj without k_proj, weight without bias) is left with uninitialised elements.
        """
        module, _, _ = name.rpartition(".")
        parent, _, leaf = module.rpartition(".")
        siblings = next((g for g in self.fused_layers if leaf in g), (leaf,))
        return [f"{parent}.{m}.{p}" for m in siblings for p in ("weight", "bias")]


def grid_input_size(patch_size: int) -> Callable[[Any], Size | None]:
    """Model-input size for processors that resize to a patch grid (Qwen-VL): `image_grid_thw` (t, h, w)
    of the first image times the family's patch size."""

    def size(prompt) -> Size | None:
        grid = getattr(prompt, "image_grid_thw", None) if prompt is not None else None
        if grid is None:
            return None
        _, gh, gw = (int(x) for x in grid[0].tolist())
        return float(gw * patch_size), float(gh * patch_size)

    return size


def pixel_input_size(prompt) -> Size | None:
    """Model-input size for processors that resize to a fixed square (Gemma 3's SigLIP): the width
    and height of `pixel_values` (images, channels, height, width)."""
    pix = getattr(prompt, "pixel_values", None) if prompt is not None else None
    if pix is None or pix.ndim != 4:
        return None
    return float(pix.shape[-1]), float(pix.shape[-2])
