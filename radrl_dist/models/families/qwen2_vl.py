"""Qwen2-VL: patch 14, grounding as `<|box_start|>(x1,y1),(x2,y2)<|box_end|>` on a 0..1000 grid."""

from __future__ import annotations

from radrl_dist.models.families import qwen_common as q
from radrl_dist.models.families.spec import FamilySpec, grid_input_size

PATCH_SIZE = 14


def tiny_config(spec, tok) -> dict:
    vh = spec.vision_hidden_size
    vision = {"depth": spec.vision_depth, "embed_dim": vh, "hidden_size": spec.hidden_size, "num_heads": max(1, vh // 32),
              "mlp_ratio": 2, "patch_size": PATCH_SIZE, "spatial_merge_size": 2, "temporal_patch_size": 2}
    return {"text_config": q.text_config(spec, tok), "vision_config": vision, "tie_word_embeddings": False, **q.token_ids(tok)}


SPEC = FamilySpec(
    name="qwen2_vl", model_types=("qwen2_vl",),
    config_class="transformers.Qwen2VLConfig", model_class="transformers.Qwen2VLForConditionalGeneration",
    image_processor_class="transformers.models.qwen2_vl.image_processing_pil_qwen2_vl.Qwen2VLImageProcessorPil",
    processor_class=None,
    tiny_tokens=q.TINY_TOKENS, stop_tokens=q.STOP_TOKENS, vision_tokens=q.VISION_TOKENS,
    grounding_tokens=q.GROUNDING_TOKENS,
    vision_modules=q.VISION_MODULES, checkpoint_prefixes=q.CHECKPOINT_PREFIXES, fused_layers=q.FUSED_LAYERS,
    published_prefixes=(),
    pixel_bounds=True, token_type_key=q.TOKEN_TYPE_KEY, model_input_size=grid_input_size(PATCH_SIZE),
    box_format="qwen2_vl",
    tiny_config=tiny_config, tiny_image_processor=q.grid_image_processor(PATCH_SIZE),
)
