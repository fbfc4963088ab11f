"""Qwen2-VL: patch 14, grounding as `<|box_start|>(x1,y1),(x2,y2)<|box_end|>` on a 0..1000 grid."""

from __future__ import annotations

from radrl_dist.models.families import qwen_common as q

PATCH_SIZE = 14


def tiny_config(spec, tok) -> dict:
    vh = spec.vision_hidden_size
    vision = {"depth": spec.vision_depth, "embed_dim": vh, "hidden_size": spec.hidden_size, "num_heads": max(1, vh // 32),
              "mlp_ratio": 2, "patch_size": PATCH_SIZE, "spatial_merge_size": 2, "temporal_patch_size": 2}
    return {"text_config": q.text_config(spec, tok), "vision_config": vision, "tie_word_embeddings": False, **q.token_ids(tok)}


SPEC = q.qwen_spec("qwen2_vl", "Qwen2VL", PATCH_SIZE, tiny_config)
