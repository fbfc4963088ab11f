"""Every registered model family answers the questions the rest of the package asks it, and its
tiny build agrees with its spec (tokens, classes, model-input size, weight names).

Parametrised over the registry, so a new family file is checked here with no edit.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from PIL import Image

from radrl_dist.boxes.box import Box
from radrl_dist.boxes.codecs import SHARED_BOX_FORMATS
from radrl_dist.config.schema import ModelConfig, RadRLConfig
from radrl_dist.data.schema import Study
from radrl_dist.learner.batch import TrainingSample, collate
from radrl_dist.learner.engine_setup import is_vision_param, lora_target_regex
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.families import (
    BOX_FORMAT_NAMES,
    FAMILIES,
    FAMILY_NAMES,
    family_of_checkpoint,
    get_codec,
    get_family,
)
from radrl_dist.models.loading import load_policy, load_processor
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.models.prompts import BOX_FORMAT_HINTS, prompt_text
from radrl_dist.models.tokenizer import (
    completion_strip_ids,
    stop_token_ids,
    vision_token_ids,
)


def test_config_family_literal_is_the_registry():
    assert ModelConfig.model_fields["family"].annotation.__args__ == FAMILY_NAMES
    with pytest.raises(ValueError, match=r"model\.family"):
        RadRLConfig.model_validate({"model": {"family": "llava"}})
    with pytest.raises(ValueError, match="unknown model family 'llava'; known: qwen2_vl"):
        get_family("llava")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_spec_box_format_is_a_codec_with_a_prompt_hint(family):
    spec = FAMILIES[family]
    assert spec.box_format in BOX_FORMAT_NAMES and spec.box_format in BOX_FORMAT_HINTS
    assert RadRLConfig.model_validate({"model": {"family": family}}).box_format == spec.box_format
    assert spec.stop_tokens and spec.vision_tokens and spec.vision_modules


def test_registry_imports_no_torch_or_transformers():
    """config.schema imports the registry: loading a config must stay light."""
    code = ("import sys, radrl_dist.models.families, radrl_dist.config.schema; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'vllm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


GEMMA_NAMES = {  # HF state-dict names of Gemma 3 (transformers 5)
    "tower": "model.vision_tower.encoder.layers.0.self_attn.q_proj.weight",
    "projector": "model.multi_modal_projector.mm_input_projection_weight",
    "lm": "model.language_model.layers.0.self_attn.q_proj.weight",
}


def test_gemma3_vision_params_and_lora_targets():
    """The old `".visual."` test called Gemma 3's tower trainable and put LoRA on its q_proj."""
    assert is_vision_param(GEMMA_NAMES["tower"], "gemma3") and is_vision_param(GEMMA_NAMES["projector"], "gemma3")
    assert not is_vision_param(GEMMA_NAMES["lm"], "gemma3")
    assert is_vision_param(GEMMA_NAMES["tower"])  # without a family: any registered family's tower
    rx = lora_target_regex(["q_proj"], include_vision=False, family="gemma3")
    assert re.fullmatch(rx, GEMMA_NAMES["lm"][: -len(".weight")])
    assert not re.fullmatch(rx, GEMMA_NAMES["tower"][: -len(".weight")])
    assert not is_vision_param("model.visual.blocks.0.mlp.gate_proj.weight", "gemma3")  # Qwen's tower name
    assert is_vision_param("model.visual.blocks.0.mlp.gate_proj.weight", "qwen2_vl")


def test_gemma3_checkpoint_keys_and_fused_groups():
    spec = get_family("gemma3")
    published = {"vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
                  "language_model.model.layers.0.self_attn.q_proj.weight"}
    assert spec.checkpoint_key(GEMMA_NAMES["tower"], published) == "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"
    assert spec.checkpoint_key(GEMMA_NAMES["lm"], published) == "language_model.model.layers.0.self_attn.q_proj.weight"
    assert spec.checkpoint_key("model.language_model.norm.weight", published) is None
    assert spec.layer_group("model.language_model.layers.0.mlp.up_proj.weight") == [
        f"model.language_model.layers.0.mlp.{m}.{p}" for m in ("gate_proj", "up_proj") for p in ("weight", "bias")]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "cxr.png"
    Image.linear_gradient("L").resize((100, 130)).save(path)
    return path


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_tiny_build_agrees_with_its_spec(family, tiny_vlm_dir, image):
    spec = get_family(family)
    path = tiny_vlm_dir(family)
    assert family_of_checkpoint(path) is spec
    proc = load_processor(path, 3136, 20480)
    tok = proc.tokenizer
    assert tok.eos_token == spec.tiny_tokens.eos == spec.stop_tokens[0]
    assert stop_token_ids(tok, spec)[0] == tok.eos_token_id
    assert len(vision_token_ids(tok, spec)) == len(spec.vision_tokens)  # every vision token is in the vocab
    strip = completion_strip_ids(tok)
    assert set(stop_token_ids(tok, spec)) <= strip and not strip & set(tok.convert_tokens_to_ids(list(spec.grounding_tokens)))

    study = Study("s", [str(image)], "report")
    enc = proc(text=[prompt_text(proc, study, "plain")], images=[Image.open(image).convert("RGB")], return_tensors="pt")
    assert spec.token_type_key in enc  # the per-token image mask the model takes under this name
    prompt = PromptInputs.from_processor(dict(enc))
    # the model-input size the spec computes is the size the processor resized the image to
    ip = proc.image_processor
    if "image_grid_thw" in enc:
        _, gh, gw = enc["image_grid_thw"][0].tolist()
        expected = (float(gw * ip.patch_size), float(gh * ip.patch_size))
    else:
        expected = (float(ip.size["width"]), float(ip.size["height"]))
    assert spec.model_input_size(prompt) == expected

    model = load_policy(path)
    assert type(model).__name__ == spec.model_class.rsplit(".", 1)[1]
    with open(path / "model.safetensors", "rb") as f:  # the published layout: every HF name maps to a file key
        keys = set(json.loads(f.read(int.from_bytes(f.read(8), "little")))) - {"__metadata__"}
    names = [n for n, _ in model.named_parameters()]
    assert all(spec.checkpoint_key(n, keys) for n in names if not (n == "lm_head.weight" and model.config.tie_word_embeddings))
    assert any(is_vision_param(n, spec) for n in names) and not all(is_vision_param(n, spec) for n in names)
    assert get_codec(spec.box_format)  # its answers parse


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_learner_logprobs_equal_a_forward_on_the_processor_inputs(family, tiny_vlm_dir, image):
    """The learner's micro-batch hands the model the processor's per-token image mask under the
    family's name: Gemma 3 attends bidirectionally inside the image only when it gets `token_type_ids`
    (under `mm_token_type_ids` it silently attends causally: log-probs off by ~1e-3)."""
    spec, path = get_family(family), tiny_vlm_dir(family)
    proc, model = load_processor(path, 3136, 20480), load_policy(path).eval()
    enc = proc(text=[prompt_text(proc, Study("s", [str(image)], "report"), "plain")],
               images=[Image.open(image).convert("RGB")], return_tensors="pt")
    completion = torch.tensor(proc.tokenizer("Heart size is normal.", add_special_tokens=False)["input_ids"])
    sample = TrainingSample(PromptInputs.from_processor(dict(enc)), completion, torch.zeros(len(completion)), 0.0)
    with torch.no_grad():
        learner, _ = completion_logprobs(model, collate([sample], proc.tokenizer.pad_token_id))
        ids = torch.cat([enc["input_ids"], completion[None]], 1)
        extra = {k: v for k, v in enc.items() if k in ("pixel_values", "image_grid_thw")}
        types = torch.cat([enc[spec.token_type_key], torch.zeros_like(completion)[None]], 1)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **{spec.token_type_key: types}, **extra).logits
    P = enc["input_ids"].shape[1]
    direct = torch.log_softmax(logits[0, P - 1 : -1].float(), -1).gather(-1, completion[:, None])[:, 0]
    assert torch.allclose(learner[0], direct, atol=1e-5), (learner[0] - direct).abs().max()


def test_a_family_defines_its_own_box_format_in_its_file():
    """Gemma 3's y-first `box_2d` lives in families/gemma3.py, not among the shared formats, yet it is a
    config value, has a prompt hint and round-trips: adding a family with a new format is one file."""
    spec = FAMILIES["gemma3"]
    assert spec.own_box_format is not None and spec.box_format not in SHARED_BOX_FORMATS
    assert spec.box_format in BOX_FORMAT_NAMES and BOX_FORMAT_HINTS[spec.box_format] == spec.own_box_format.hint
    text = get_codec("gemma3").encode([Box(10, 20, 50, 80, label="opacity")], (100, 100))
    assert text == '[{"box_2d": [200, 100, 800, 500], "label": "opacity"}]'
    (box,), ok = get_codec("gemma3").parse(text, (100, 100))
    assert ok and (box.x1, box.y1, box.x2, box.y2) == (10, 20, 50, 80)
    with pytest.raises(ValueError, match="unknown box format 'nope'"):
        get_codec("nope")
