"""Grounding prompts name the coordinate format of the run's box codec (issue 17.7)."""

from __future__ import annotations

import pytest

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import BOX_FORMAT_NAMES, get_codec
from radrl_dist.data.schema import Study
from radrl_dist.models.prompts import BOX_FORMAT_HINTS, build_messages, instruction_for

EXAMPLE = {"qwen2_vl": (120, 340, 560, 780), "qwen2_5_vl": (84, 230, 392, 545), "qwen3_vl": (120, 340, 560, 780),
           "radvlm": (0.12, 0.34, 0.56, 0.78), "gemma3": (120, 340, 560, 780)}
NAMES = {"qwen2_vl": "0..1000 grid", "qwen2_5_vl": "pixels of the resized input", "qwen3_vl": "0..1000 grid",
         "radvlm": "normalised to 0..1", "gemma3": "(y first) as integers on a 0..1000 grid"}


def grounding(**prompt_vars) -> Study:
    return Study("g", ["x.png"], "grounding", boxes=[Box(1, 2, 3, 4, phrase="left effusion")], prompt_vars=prompt_vars)


@pytest.mark.parametrize("box_format", BOX_FORMAT_NAMES)
@pytest.mark.parametrize("fmt", ["plain", "think_answer"])
def test_grounding_instruction_names_the_format_and_its_example_parses(box_format, fmt):
    text = instruction_for(grounding(), fmt, box_format)
    assert "left effusion" in text and NAMES[box_format] in text
    assert text.endswith(BOX_FORMAT_HINTS[box_format])
    # the example the prompt shows is what the run's codec reads (frame = source: numbers as written)
    frame = (1.0, 1.0) if box_format == "radvlm" else (1000.0, 1000.0)
    boxes, _ = get_codec(box_format).parse(BOX_FORMAT_HINTS[box_format], frame, frame)
    assert [b.as_tuple() for b in boxes] == [pytest.approx(EXAMPLE[box_format])]
    assert build_messages(grounding(), fmt, box_format)[0]["content"][-1]["text"] == text


def test_report_prompts_and_own_instructions_are_unchanged():
    report = Study("r", ["x.png"], "report")
    assert instruction_for(report, "plain", "qwen2_vl") == instruction_for(report, "plain")
    assert instruction_for(grounding(instruction="Find it."), "plain", "radvlm") == "Find it."
    assert "0..1000" not in instruction_for(grounding(), "plain")  # no format given, none named
    with pytest.raises(ValueError, match="unknown box format 'llava'"):
        instruction_for(grounding(), "plain", "llava")


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "gemma3"])
def test_every_run_path_prompts_with_the_runs_box_format(family, tiny_vlm_dir, tmp_path):
    """Training, held-out, SFT and evaluation build requests with `request_for`: the encoded prompt
    names the run's coordinates (and only grounding prompts get the hint)."""
    from PIL import Image

    from radrl_dist.config.schema import RadRLConfig
    from radrl_dist.models.loading import load_processor
    from radrl_dist.models.prompt_encoding import prepare_request, request_for

    cfg = RadRLConfig.model_validate({"model": {"family": family}})
    proc = load_processor(tiny_vlm_dir(family), 3136, 20480)
    Image.new("L", (64, 80), 90).save(tmp_path / "x.png")
    study = Study("g", [str(tmp_path / "x.png")], "grounding", boxes=[Box(1, 2, 3, 4, phrase="left effusion")])
    req = request_for(study, cfg.data.prompt_format, cfg.box_format)
    assert BOX_FORMAT_HINTS[family] in prepare_request(proc, req, 512).text
    report = Study("r", study.image_paths, "report")
    assert BOX_FORMAT_HINTS[family] not in prepare_request(
        proc, request_for(report, cfg.data.prompt_format, cfg.box_format), 512).text
