"""HF transformers `generate` engine: machines without vLLM, and the reference the vLLM engine is tested against.

The image is encoded once per candidate here (generate expands the batch by n); vLLM's n=G shares it.
Behaviour log-probs come from generate's processed scores (vision tokens at -inf, temperature applied).
"""

from __future__ import annotations

import torch

from radrl_dist.models.families import get_family
from radrl_dist.models.loading import load_policy, load_processor, resolve_model_path
from radrl_dist.models.prompt_encoding import PreparedPrompt, RolloutRequest
from radrl_dist.models.tokenizer import completion_strip_ids, decode_completion, stop_token_ids, vision_token_ids
from radrl_dist.rollout.engine import RolloutEngine, SamplingSpec
from radrl_dist.rollout.lora_merge import lora_deltas, merge_into
from radrl_dist.rollout.types import SampledCompletion
from radrl_dist.weight_sync.manifest import WeightManifest, is_store_backed, manifest_tensors
from radrl_dist.weight_sync.receive import LoadStats, ModuleWeights

STUDIES_PER_CALL = 4  # bounds generate's batch (studies x n) on small machines


class HFEngine(RolloutEngine):
    kind = "hf"

    def __init__(self, rollout, model, max_prompt_length, engine_id):
        super().__init__(rollout, model, max_prompt_length, engine_id)
        path = resolve_model_path(model)
        self.processor = load_processor(path, model.min_pixels, model.max_pixels)
        self.model = load_policy(path, model.dtype, model.attn_implementation).eval()
        if torch.cuda.is_available() and rollout.gpus_per_actor > 0:
            self.model.to("cuda")
        self.family = get_family(model.family)
        self.suppress_ids = vision_token_ids(self.processor.tokenizer, self.family)
        self.stop_ids = stop_token_ids(self.processor.tokenizer, self.family)
        self.strip_ids = completion_strip_ids(self.processor.tokenizer)
        self._base: dict[str, torch.Tensor] = {}  # W0 of LoRA-targeted weights
        self.weights = ModuleWeights(self.model)  # loads manifests; knows which weights are store views
        self.load_stats = LoadStats()

    def completion_text(self, token_ids) -> str:
        """What rewards parse: grounding markers kept, end-of-turn and padding dropped."""
        return decode_completion(self.processor.tokenizer, token_ids, self.strip_ids)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _generate(self, prepared: list[PreparedPrompt], requests: list[RolloutRequest], spec: SamplingSpec) -> dict:
        seed = next((r.seed for r in requests if r.seed is not None), None)
        if seed is not None:
            torch.manual_seed(seed)
        out = {}
        for s in range(0, len(prepared), STUDIES_PER_CALL):
            out.update(self._generate_chunk(prepared[s : s + STUDIES_PER_CALL], requests, spec))
        return out

    @torch.no_grad()
    def _generate_chunk(self, prepared: list[PreparedPrompt], requests, spec: SamplingSpec) -> dict:
        tok = self.processor.tokenizer
        enc = self.processor(
            text=[p.text for p in prepared], images=[p.images for p in prepared],  # per prompt: Gemma 3's processor needs it
            padding=True, return_tensors="pt",
        ).to(self.device)
        kwargs = dict(do_sample=False) if spec.greedy else dict(do_sample=True, temperature=spec.temperature, top_p=spec.top_p, top_k=0)
        gen = self.model.generate(
            **enc, max_new_tokens=spec.max_new_tokens, num_return_sequences=spec.n, suppress_tokens=self.suppress_ids,
            output_scores=True, return_dict_in_generate=True, pad_token_id=tok.pad_token_id, eos_token_id=self.stop_ids,
            **kwargs,
        )
        p_len = enc["input_ids"].shape[1]
        new = gen.sequences[:, p_len:].cpu()
        scores = torch.stack(gen.scores, dim=1).float()  # [B*n, T, V], processed (what was sampled from)
        lps = torch.log_softmax(scores, dim=-1).gather(-1, new[:, : scores.shape[1]].to(scores.device).unsqueeze(-1))
        lps = lps.squeeze(-1).cpu()
        task_of = {r.study_id: r.study.task for r in requests}
        out: dict[str, list[SampledCompletion]] = {}
        for row in range(new.shape[0]):
            p = prepared[row // spec.n]
            ids = new[row].tolist()
            finish = "length"
            end = next((i for i, t in enumerate(ids) if t in self.stop_ids), None)
            if end is not None:
                ids = ids[: end + 1]
                finish = "stop"
            out.setdefault(p.study_id, []).append(SampledCompletion(
                study_id=p.study_id, task=task_of[p.study_id], sample_index=row % spec.n,
                text=self.completion_text(ids), token_ids=ids, logprobs=lps[row, : len(ids)].tolist(),
                prompt_token_ids=p.prompt_ids, finish_reason=finish, weight_version=self.version,
                engine_id=self.engine_id, gen_seconds=0.0,
            ))
        return out

    def _load(self, manifest: WeightManifest) -> None:
        what = f"engine {self.engine_id}: manifest v{manifest.version}"
        if manifest.kind == "full":  # objref views become the weights on CPU (no copy); the rest are copied
            self.load_stats = self.weights.load(manifest_tensors(manifest), adopt=is_store_backed(manifest), what=what)
            return
        params = self.model.state_dict()
        deltas = lora_deltas(manifest_tensors(manifest), manifest.lora_config)
        for name in deltas:
            if name not in self._base and name in params:
                self._base[name] = params[name].detach().clone()
        merged = merge_into({**params, **self._base}, deltas)
        # weights the previous adapter touched but this one does not go back to W0 (copied: _base is kept)
        new = {**{n: w for n, w in self._base.items() if n not in merged}, **merged}
        self.load_stats = self.weights.load(new.items(), adopt=False, what=what)
