"""`python -m radrl_dist.doctor`: check that the installed environment can run every part.

Run at the end of `make install` so a broken install fails there, with the reason, rather than in
the middle of a training run.
"""

from __future__ import annotations

import importlib
import sys

from radrl_dist._compat.torchvision_cpu_ops import STATE
from radrl_dist._compat.vllm_support import SUPPORTED_RANGE, unsupported_reason
from radrl_dist.data.iu_xray_reports import default_archive_path


def check(name: str) -> tuple[bool, str]:
    try:
        mod = importlib.import_module(name)
        return True, getattr(mod, "__version__", "?")
    except Exception as exc:  # report every failure, do not stop at the first
        return False, f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def vllm_verdict(installed: str) -> tuple[str, str]:
    """(tag, info) for an importable vLLM: FAIL outside the supported range, since the engine's
    version gates and the tests only cover releases inside it."""
    try:
        reason = unsupported_reason(installed)
    except ValueError as exc:  # e.g. a build without a PEP 440 __version__
        reason = f"{exc}; cannot check it against the supported range"
    return ("FAIL", reason) if reason else ("ok  ", f"{installed} (supported {SUPPORTED_RANGE})")


def main(argv: list[str] | None = None) -> int:
    required = ["torch", "transformers", "peft", "deepspeed", "ray", "pyarrow", "pydantic", "torchvision"]
    optional = ["vllm", "pycocoevalcap"]
    failed = False
    for name in required + optional:
        ok, info = check(name)
        tag = "ok  " if ok else ("FAIL" if name in required else "miss")
        if ok and name == "vllm":
            tag, info = vllm_verdict(info)
        print(f"  [{tag}] {name:<16} {info}")
        failed |= tag == "FAIL"
    try:  # torchxrayvision is installed --no-deps for its data files only (IU X-Ray reports, box CSVs)
        print(f"  [ok  ] {'IU X-Ray reports':<16} {default_archive_path()}")
    except FileNotFoundError as exc:
        print(f"  [miss] {'IU X-Ray reports':<16} {exc}")
    import torch  # lazy: torch; imported after the install report, so a broken torch is reported first

    if torch.cuda.is_available():
        print(f"  CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print(f"  CPU only; torchvision compiled ops shim active: {STATE['shim_active']}")
    if failed:
        print("doctor: the environment is incomplete (see FAIL lines)", file=sys.stderr)
        return 1
    print("doctor: environment ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
