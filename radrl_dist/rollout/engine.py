"""The RolloutEngine interface both engines implement (radrl_dist.rollout.engines picks one from config).

An engine is single-process and synchronous: the actor around it owns concurrency and Ray. It
knows which weight version it serves and refuses to load a LoRA adapter on top of full weights.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass

from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.models.prompt_encoding import PreparedPrompt, RolloutRequest, prepare_request
from radrl_dist.rollout.types import StudyRollout
from radrl_dist.weight_sync.manifest import WeightManifest

LOADING = -1  # the version an engine reports while (or after failing) loading: it matches no step


@dataclass(frozen=True)
class SamplingSpec:
    """What one generate call samples: n per study, temperature (0 = greedy), top_p, length."""

    n: int
    temperature: float
    top_p: float
    max_new_tokens: int

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def logprob_temperature(self) -> float:
        """Temperature of the behaviour log-probs (greedy ones are at temperature 1)."""
        return 1.0 if self.greedy else self.temperature


class RolloutEngine(abc.ABC):
    kind: str = "?"

    def __init__(self, rollout: RolloutConfig, model: ModelConfig, max_prompt_length: int, engine_id: str):
        self.rollout, self.model_cfg = rollout, model
        self.max_prompt_length = max_prompt_length
        self.engine_id = engine_id
        self.version = 0  # version 0 = the checkpoint's own weights
        self.loaded_kind: str | None = None
        self.processor = None  # set by subclasses (HF processor, shared with the learner's pass)
        self.suppress_ids: list[int] = []

    def sampling(self, n: int | None = None, greedy: bool = False) -> SamplingSpec:
        r = self.rollout
        return SamplingSpec(n or r.group_size, 0.0 if greedy else r.temperature, 1.0 if greedy else r.top_p, r.max_new_tokens)

    def prepare(self, requests: list[RolloutRequest]) -> tuple[list[PreparedPrompt], dict[str, str]]:
        """Prepared prompts, plus {study_id: error} for studies that cannot be prompted."""
        ok, errors = [], {}
        for req in requests:
            try:
                ok.append(prepare_request(self.processor, req, self.max_prompt_length))
            except (ValueError, OSError) as exc:  # ImageLoadError and PromptTooLongError are ValueErrors
                errors[req.study_id] = f"{type(exc).__name__}: {exc}"
        return ok, errors

    def generate(self, requests: list[RolloutRequest], n: int | None = None, greedy: bool = False) -> list[StudyRollout]:
        """One StudyRollout per request, in request order (failed studies carry their error)."""
        return self.generate_with_prompts(requests, n, greedy)[0]

    def generate_with_prompts(self, requests: list[RolloutRequest], n: int | None = None,
                              greedy: bool = False) -> tuple[list[StudyRollout], dict[str, dict]]:
        """`generate`, plus {study_id: processor inputs} of the prompts it encoded (ok studies): the
        learner trains on exactly these, so no one encodes a prompt twice."""
        spec = self.sampling(n, greedy)
        prepared, errors = self.prepare(requests)
        t0 = time.perf_counter()
        by_id = self._generate(prepared, requests, spec) if prepared else {}
        dt = time.perf_counter() - t0
        out = []
        for req in requests:
            sid = req.study_id
            if sid in errors:
                out.append(StudyRollout(sid, error=errors[sid]))
            else:
                cands = by_id[sid]
                for c in cands:
                    c.gen_seconds = dt
                out.append(StudyRollout(sid, candidates=cands))
        return out, {p.study_id: p.inputs for p in prepared}

    @abc.abstractmethod
    def _generate(self, prepared: list[PreparedPrompt], requests: list[RolloutRequest], spec: SamplingSpec) -> dict:
        """{study_id: [SampledCompletion] * n} for the prepared prompts."""

    def load_weights(self, manifest: WeightManifest) -> int:
        """Load a published version; returns the version now served."""
        if manifest.version < self.version:
            raise ValueError(f"engine {self.engine_id}: manifest version {manifest.version} is older than served {self.version}")
        if manifest.kind == "lora" and self.loaded_kind == "full":
            raise ValueError("a LoRA manifest cannot follow a full-weight manifest (LoRA merges against the checkpoint base)")
        if manifest.kind not in ("full", "lora"):
            raise ValueError(f"unknown manifest kind {manifest.kind!r}")
        if manifest.kind == "lora" and not manifest.lora_config:
            raise ValueError("LoRA manifest without lora_config (r, lora_alpha)")
        self.version = LOADING  # a load that fails half-way leaves mixed weights: serve nothing until reloaded
        if manifest.kind == "full":
            self.loaded_kind = "full"  # even half-loaded full weights are no longer the checkpoint's base
        self._load(manifest)
        self.version, self.loaded_kind = manifest.version, manifest.kind
        return self.version

    @abc.abstractmethod
    def _load(self, manifest: WeightManifest) -> None: ...

