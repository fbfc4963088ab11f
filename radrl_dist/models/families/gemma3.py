"""Gemma 3 (`Gemma3ForConditionalGeneration`), the base of MedGemma: SigLIP tower at a fixed square
input, image tokens pooled to `mm_tokens_per_image`, turns `<start_of_turn>role ... <end_of_turn>`.

Box format `gemma3`: JSON `[{"box_2d": [y1, x1, y2, x2], "label": "..."}]`, integers on a 0..1000
grid, y before x. Why: Gemma 3 has no grounding tokens and Google documents no box format for Gemma 3
or MedGemma. The format above is the one Google documents for Gemini's object detection
(`box_2d` as [y_min, x_min, y_max, x_max] normalised to 0-1000); asked which format Gemma 3 uses, a
Google reply on the gemma-3-4b-it model page (discussion #38) says it is not documented and that Gemma 3
likely follows Gemini's. So a MedGemma user prompting for boxes most likely gets (and expects) Gemini's
format; the prompt hint states it in full, so a fine-tuned model learns it either way.
"""

from __future__ import annotations

from radrl_dist.boxes.codecs import json_box_format
from radrl_dist.models.families.spec import FamilySpec, TinyTokens, pixel_input_size

BOX_FORMAT = json_box_format(
    "gemma3", "box_2d", (1000.0, 1000.0),
    'Write the boxes as JSON, e.g. [{"box_2d": [340, 120, 780, 560], "label": "opacity"}], with y1, x1, '
    "y2, x2 (y first) as integers on a 0..1000 grid of the image.", y_first=True)

BOI, EOI, IMAGE = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
# Simplified from the real template: same turn markers and image placeholder, no system-turn folding.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<start_of_image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
# Real Gemma ids: pad 0, eos 1, bos 2; the tiny tokenizer keeps that order.
TINY_TOKENS = TinyTokens(
    special=("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", BOI, EOI, IMAGE),
    bos="<bos>", eos="<end_of_turn>", pad="<pad>", chat_template=CHAT_TEMPLATE,
    named={"boi_token": BOI, "eoi_token": EOI, "image_token": IMAGE},
    # newline runs are single pieces in Gemma's vocab; vLLM's Gemma 3 processor looks them up to merge
    # the "\n\n" around an image with its neighbours, as the tokenizer does
    whole=("\n", "\n\n", "\n\n\n", "\n\n\n\n"),
)
TINY_IMAGE_SIZE, TINY_PATCH, TINY_IMAGE_TOKENS = 112, 14, 16  # 8 x 8 patches pooled 2 x 2 -> 16 tokens
HEAD_DIM = 32


def tiny_config(spec, tok) -> dict:
    heads = max(1, spec.hidden_size // HEAD_DIM)
    text = {
        "vocab_size": len(tok), "hidden_size": spec.hidden_size, "intermediate_size": spec.hidden_size * 2,
        "num_hidden_layers": spec.num_layers, "num_attention_heads": heads, "num_key_value_heads": heads,
        "head_dim": HEAD_DIM, "query_pre_attn_scalar": HEAD_DIM, "max_position_embeddings": 4096,
        "sliding_window": 4096,  # wider than any tiny sequence: HF and vLLM need not agree on window edges
        "bos_token_id": tok.convert_tokens_to_ids("<bos>"), "eos_token_id": tok.convert_tokens_to_ids("<end_of_turn>"),
        "pad_token_id": tok.pad_token_id, "tie_word_embeddings": True,
    }
    vh = spec.vision_hidden_size
    vision = {"hidden_size": vh, "intermediate_size": vh * 2, "num_hidden_layers": spec.vision_depth,
              "num_attention_heads": max(1, vh // 32), "image_size": TINY_IMAGE_SIZE, "patch_size": TINY_PATCH,
              "vision_use_head": False}
    return {"text_config": text, "vision_config": vision, "mm_tokens_per_image": TINY_IMAGE_TOKENS,
            "boi_token_index": tok.convert_tokens_to_ids(BOI), "eoi_token_index": tok.convert_tokens_to_ids(EOI),
            "image_token_index": tok.convert_tokens_to_ids(IMAGE), "tie_word_embeddings": True}


def tiny_image_processor(config, min_pixels: int, max_pixels: int) -> dict:
    """A fixed square resize (Gemma 3 ignores pixel bounds; pan-and-scan off)."""
    side = config.vision_config.image_size
    return {"size": {"height": side, "width": side}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "do_pan_and_scan": False}


SPEC = FamilySpec(
    name="gemma3", model_types=("gemma3",),
    config_class="transformers.Gemma3Config", model_class="transformers.Gemma3ForConditionalGeneration",
    image_processor_class="transformers.models.gemma3.image_processing_pil_gemma3.Gemma3ImageProcessorPil",
    processor_class="transformers.Gemma3Processor",
    tiny_tokens=TINY_TOKENS, stop_tokens=("<end_of_turn>", "<eos>"), vision_tokens=(BOI, EOI, IMAGE),
    grounding_tokens=(),
    vision_modules=("vision_tower", "multi_modal_projector"),
    # files use the pre-4.52 top-level layout (transformers 5 renames on load and back on save, except
    # that it saves the SigLIP tower without its `vision_model.` level, which published files have)
    checkpoint_prefixes=(("model.language_model.", "language_model.model."),
                         ("model.vision_tower.", "vision_tower.vision_model."), ("model.vision_tower.", "vision_tower."),
                         ("model.multi_modal_projector.", "multi_modal_projector."), ("lm_head.", "language_model.lm_head.")),
    fused_layers=(("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")),
    # vLLM 0.32 loads only the published tower layout: "There is no module or parameter named
    # 'vision_tower.embeddings'" for a file as transformers 5.19 saves it
    published_prefixes=(("vision_tower.", "vision_tower.vision_model."),),
    pixel_bounds=False, token_type_key="token_type_ids", model_input_size=pixel_input_size,
    box_format="gemma3", own_box_format=BOX_FORMAT,
    tiny_config=tiny_config, tiny_image_processor=tiny_image_processor,
    tiny_processor=lambda config: {"image_seq_length": config.mm_tokens_per_image},
)
