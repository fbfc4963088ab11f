"""The tiny VLM's processor accepts a phantom image end to end (grayscale PNG -> RGB -> patches)."""

from __future__ import annotations

import pytest

from radrl_dist.config.schema import ModelConfig, TinyModelSpec
from radrl_dist.data.reader import load_study_images, read_studies


@pytest.mark.timeout(300)
def test_tiny_processor_takes_a_phantom(phantom_ds, tmp_path_factory):
    from radrl_dist.models.loading import load_processor
    from radrl_dist.models.prompts import prompt_text
    from radrl_dist.models.tiny_vlm import ensure_tiny_vlm

    cfg = ModelConfig()
    spec = TinyModelSpec(cache_dir=str(tmp_path_factory.mktemp("tiny")))
    path = ensure_tiny_vlm(cfg.family, spec, cfg.min_pixels, cfg.max_pixels)
    proc = load_processor(path, cfg.min_pixels, cfg.max_pixels)
    for study in read_studies(phantom_ds.paths["test"])[:2]:
        images = load_study_images(study)
        text = prompt_text(proc, study, "plain" if study.task == "report" else "think_answer")
        batch = proc(text=[text], images=images, return_tensors="pt")
        t, h, w = batch["image_grid_thw"][0].tolist()
        patch = proc.image_processor.patch_size
        assert t == 1 and h * w * patch * patch <= cfg.max_pixels  # the image was bounded, not cropped
        assert batch["pixel_values"].shape[0] == t * h * w
        assert batch["input_ids"].shape[1] > 10
