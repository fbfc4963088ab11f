"""Qwen3-VL: patch 16, interleaved mrope, deepstack; grounding as JSON `bbox_2d` on a 0..1000 grid."""

from __future__ import annotations

from radrl_dist.models.families import qwen_common as q

PATCH_SIZE = 16


def tiny_config(spec, tok) -> dict:
    vh = spec.vision_hidden_size
    vision = {"depth": spec.vision_depth, "hidden_size": vh, "intermediate_size": vh * 2, "num_heads": max(1, vh // 32),
              "out_hidden_size": spec.hidden_size, "patch_size": PATCH_SIZE, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "num_position_embeddings": 64, "deepstack_visual_indexes": [spec.vision_depth - 1]}
    text = q.text_config(spec, tok, interleaved_mrope=True, explicit_head_dim=True)
    return {"text_config": text, "vision_config": vision, "tie_word_embeddings": False, **q.token_ids(tok)}


SPEC = q.qwen_spec("qwen3_vl", "Qwen3VL", PATCH_SIZE, tiny_config)
