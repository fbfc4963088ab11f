"""Qwen2.5-VL: patch 14, window attention; grounding as JSON `bbox_2d` in pixels of the resized input
(so its boxes need the model-input size, which `grid_input_size` reads from `image_grid_thw`)."""

from __future__ import annotations

from radrl_dist.models.families import qwen_common as q

PATCH_SIZE = 14


def tiny_config(spec, tok) -> dict:
    vh = spec.vision_hidden_size
    vision = {"depth": spec.vision_depth, "hidden_size": vh, "intermediate_size": vh * 2, "num_heads": max(1, vh // 32),
              "out_hidden_size": spec.hidden_size, "patch_size": PATCH_SIZE, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [spec.vision_depth - 1]}
    return {"text_config": q.text_config(spec, tok), "vision_config": vision, "tie_word_embeddings": False, **q.token_ids(tok)}


SPEC = q.qwen_spec("qwen2_5_vl", "Qwen2_5_VL", PATCH_SIZE, tiny_config)
