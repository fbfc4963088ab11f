"""Offline install of the packages bench/gpu.py needs, from wheels carried beside the checkout.

Why: the GPU machine has torch, transformers and peft but no network and no pydantic (radrl_dist's
config), deepspeed (the learner), ray or vllm. Wheels in one directory are installed with
`pip install --no-index --no-deps --target SITE DIR/*.whl` and SITE goes first on sys.path, so this
must run before torch (which imports an older typing_extensions) and before any radrl_dist import.
Stdlib only. A SITE filled by an earlier run goes on sys.path first; pip runs only while a required
module is still missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

# import names; deepspeed's own runtime deps are listed so a missing one is named in the report
REQUIRED = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions", "deepspeed",
            "hjson", "ninja", "cpuinfo", "msgpack", "einops", "psutil")
OPTIONAL = ("ray", "vllm")


def _missing(names: tuple[str, ...]) -> list[str]:
    importlib.invalidate_caches()
    # a spec without origin is a namespace package, e.g. a stray ./ray directory: not the module
    return [n for n in names if getattr(importlib.util.find_spec(n), "origin", None) is None]


def _installable(files: list[Path]) -> tuple[list[Path], list[str]]:
    """Wheels this interpreter can install, by filename tags (pip refuses the whole list if one is not).

    Stdlib only (no `packaging` yet): python tag cpXY/pyX/pyXY, abi3 from an older cp3Y, platform
    `any` or one naming this OS and CPU.
    """
    major, minor = sys.version_info[:2]
    ok = []
    for f in files:
        py, abi, plat = f.name[: -len(".whl")].split("-")[-3:]
        pys = py.split(".")
        py_ok = bool({f"cp{major}{minor}", f"py{major}", f"py{major}{minor}"} & set(pys)) or (
            abi == "abi3" and any(t.startswith(f"cp{major}") and int(t[3:] or 0) <= minor for t in pys))
        plat_ok = plat == "any" or (sys.platform in plat and platform.machine() in plat)
        if py_ok and plat_ok:
            ok.append(f)
    return ok, [f.name for f in files if f not in ok]


def bootstrap(wheels: Path | None, required: tuple[str, ...] = REQUIRED, optional: tuple[str, ...] = OPTIONAL) -> dict:
    """Install DIR/*.whl into DIR/site-pyXY when a needed module is missing; report what happened."""
    out: dict = {"wheels_dir": str(wheels) if wheels else None, "installed_from_wheels": [], "wheel_files": [],
                 "pip_error": None}
    site = wheels / f"site-py{sys.version_info[0]}{sys.version_info[1]}" if wheels else None
    if site is not None and site.is_dir() and str(site) not in sys.path:
        sys.path.insert(0, str(site))  # an earlier run's install
    before = _missing(required + optional)
    files, out["wheels_other_python"] = _installable(sorted(wheels.glob("*.whl")) if wheels and wheels.is_dir() else [])
    if set(before) & set(required) and files:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--target", str(site), *map(str, files)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            out["pip_error"] = proc.stderr[-1000:]
        if str(site) not in sys.path:
            sys.path.insert(0, str(site))
        out["wheel_files"] = [f.name for f in files]
    after = _missing(required + optional)
    out["installed_from_wheels"] = [n for n in before if n not in after]
    out["from_site_dir"] = [n for n in required + optional if n not in after and site is not None
                            and (spec := importlib.util.find_spec(n)) is not None and spec.origin
                            and Path(spec.origin).is_relative_to(site)]
    out["missing"] = after
    out["site_dir"] = str(site) if site is not None and site.is_dir() else None
    return out
