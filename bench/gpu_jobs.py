"""bench/gpu.py's subprocess jobs: the vLLM rollout, and one learner configuration with its weight sync.

Why subprocesses: each job gets a fresh CUDA context and torch.distributed state, and gives all its
GPU memory back when it exits. vLLM keeps memory (KV cache, graphs) that `del` does not reliably
return, and DeepSpeed is not meant to be initialised twice in one process; a job that fails (OOM of
full fine-tuning) is recorded and the next one still runs.

Learner FLOPs per step, counted over the tokens actually processed (padding excluded):
    T   = sum over candidates of prompt + completion tokens (image tokens included)
    Pv  = sum over candidates of vision patches (image tokens x spatial_merge^2; each candidate's
          prompt, image included, goes through the model on its own)
    N   = language-model parameters (tied embedding counted once), Nv = vision-tower parameters,
    Nl  = LoRA parameters (the trainable ones)
    forward          2*N*T + 2*Nv*Pv            (+ 2*Nl*T with LoRA)
    backward full    4*N*T                       (activation + weight grads; vision frozen: none)
    backward LoRA    2*N*T + 4*Nl*T              (activation grads through frozen weights + LoRA's own)
    reference (beta > 0) another forward 2*N*T + 2*Nv*Pv
    MFU = FLOPs / (step seconds * peak FLOP/s). Attention score FLOPs are left out (short sequences),
    so MFU is slightly understated.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

GIB = float(1 << 30)


def log(msg: str) -> None:
    print(msg, flush=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_generate(engine, reqs) -> dict:
    """One timed `engine.generate` call; raises if any study failed."""
    sync()
    t0 = time.perf_counter()
    results = engine.generate(reqs)
    sync()
    dt = time.perf_counter() - t0
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"engine failed studies: {bad[:2]}")
    cands = [c for r in results for c in r.candidates]
    return {"requests": reqs, "results": results, "seconds": dt, "tokens": sum(c.num_tokens for c in cands),
            "candidates": len(cands), "stop_frac": sum(c.finish_reason == "stop" for c in cands) / len(cands)}


# ---------------------------------------------------------------- parent side


def run_child(name: str, spec: dict, work: Path, script: Path, wheels: str | None, timeout_s: int) -> dict:
    """Run `script --child SPEC` and return its last JSON line; raises with the log tail when there is none.

    Lines the child starts with '> ' are echoed live; everything (DeepSpeed, vLLM logs) goes to
    work/<name>.log. A child past `timeout_s` is killed.
    """
    spec_path = work / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / f"{name}.log"
    cmd = [sys.executable, str(script), "--child", str(spec_path)] + (["--wheels", wheels] if wheels is not None else [])
    last = None
    timed_out = threading.Event()
    with open(log_path, "w") as lf:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        timer = threading.Timer(timeout_s, lambda: (timed_out.set(), proc.kill()))
        timer.start()
        try:
            for line in proc.stdout:
                lf.write(line)
                if line.startswith("> "):
                    log(f"  [{name}] {line[2:].rstrip()}")
                elif line.startswith("{"):
                    last = line
        finally:
            timer.cancel()
        rc = proc.wait()
    if last is None:
        tail = log_path.read_text()[-1500:]
        raise RuntimeError(f"child {name} rc={rc}{' (timeout)' if timed_out.is_set() else ''}; log tail: {tail}")
    return json.loads(last)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- vLLM rollout job


def vllm_job(spec: dict) -> dict:
    """Same requests and sampling as the HF engine's timed batch, through `make_engine(engine="vllm")`."""
    from radrl_dist.config.schema import ModelConfig, RolloutConfig
    from radrl_dist.rollout.engines import make_engine

    on_gpu = spec["on_gpu"]
    rollout = RolloutConfig(engine="vllm", group_size=spec["group"], max_new_tokens=spec["max_new_tokens"],
                            temperature=1.0, top_p=1.0, gpus_per_actor=1.0 if on_gpu else 0.0,
                            gpu_memory_utilization=spec["gpu_memory_utilization"])
    mcfg = ModelConfig(family="qwen2_vl", path=spec["model_dir"], dtype=spec["dtype"], attn_implementation="sdpa",
                       min_pixels=spec["min_pixels"], max_pixels=spec["max_pixels"])
    t0 = time.perf_counter()
    engine = make_engine(rollout, mcfg, max_prompt_length=spec["max_prompt_length"], engine_id="vllm-gpu-check")
    load_s = time.perf_counter() - t0
    log(f"> vLLM engine up in {load_s:.1f}s ({spec['dtype']})")
    tok = engine.processor.tokenizer
    if spec["vocab_size"] > len(tok):  # the real-size head: ids past the local tokenizer are never sampled (as HF)
        allowed = sorted(set(range(len(tok))) - set(engine.suppress_ids))
        make_params = engine._params

        def params(sampling, seed):
            p = make_params(sampling, seed)
            p.allowed_token_ids = allowed
            return p

        engine._params = params
    reqs = pickle.loads(Path(spec["requests"]).read_bytes())
    run_generate(engine, reqs[: min(4, len(reqs))])  # warm-up, as for HF
    r = run_generate(engine, reqs)
    max_id = max(t for s in r["results"] for c in s.candidates for t in c.token_ids)
    out = {"vllm_load_s": load_s, "vllm_gen_s": r["seconds"], "vllm_gen_tokens": r["tokens"],
           "vllm_candidates": r["candidates"], "vllm_tokens_per_s": r["tokens"] / r["seconds"],
           "vllm_candidates_per_s": r["candidates"] / r["seconds"], "vllm_finish_stop_frac": r["stop_frac"],
           "vllm_dtype": spec["dtype"], "vllm_max_sampled_id": max_id}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        out["vllm_gpu_mem_gib"] = (total - free) / GIB  # device-wide use while vLLM holds its KV cache
    import vllm

    out["vllm"] = vllm.__version__
    return out


# ---------------------------------------------------------------- learner job


def step_flops(plan, n_lm: int, n_vis: int, n_lora: int, lora: bool, beta: float) -> dict:
    """FLOPs of one optimizer update over `plan` (the module docstring has the formula)."""
    cands = [c for upd in plan for mb in upd.micro_batches for c in mb]
    tokens = sum(c.prompt.input_ids.shape[0] + c.completion_ids.shape[0] for c in cands)
    patches = sum(c.prompt.pixel_values.shape[0] for c in cands if c.prompt.pixel_values is not None)
    fwd = 2 * n_lm * tokens + 2 * n_vis * patches + (2 * n_lora * tokens if lora else 0)
    bwd = (2 * n_lm + 4 * n_lora) * tokens if lora else 4 * n_lm * tokens
    ref = 2 * n_lm * tokens + 2 * n_vis * patches if beta > 0 else 0
    return {"tokens": tokens, "vision_patches": patches, "flops_per_step": float(fwd + bwd + ref)}


def learner_cfg(spec: dict):
    from radrl_dist.config.schema import RadRLConfig

    on_gpu, lora = spec["on_gpu"], spec["mode"] == "lora"
    return RadRLConfig.model_validate({
        "model": {"family": "qwen2_vl", "path": spec["model_dir"], "dtype": "bfloat16" if on_gpu else "float32",
                  "attn_implementation": "sdpa", "min_pixels": spec["min_pixels"], "max_pixels": spec["max_pixels"]},
        "learner": {"num_workers": 1, "gpus_per_worker": 1 if on_gpu else 0, "zero_stage": spec["stage"],
                    "micro_batch_size": spec["micro_batch"], "freeze_vision": True, "lr": 1e-4 if lora else 1e-6,
                    "lora": {"enabled": lora, "r": 16, "alpha": 32}},
        "grpo": {"beta": spec["beta"]},
        "train": {"steps": 1 + spec["timed_steps"]},
    })


def learner_job(spec: dict) -> dict:
    """The project's LearnerWorker in-process (world 1): warm-up + timed GRPO steps, MFU, then weight sync."""
    from radrl_dist.grpo.loss import merge_loss_stats
    from radrl_dist.learner.batch import plan_step
    from radrl_dist.learner.worker import LearnerWorker

    cfg = learner_cfg(spec)
    lora = cfg.learner.lora.enabled
    cands = torch.load(spec["cands"], weights_only=False)
    worker = LearnerWorker(cfg, rank=0, world=1, model_path=spec["model_dir"], total_updates=1 + spec["timed_steps"])
    info = worker.setup("127.0.0.1", free_port())
    log(f"> setup {info['setup_s']:.1f}s on {info['device']}, {info['trainable_params']:,} trainable")
    plan = plan_step(cands, world=1, micro_batch_size=cfg.learner.micro_batch_size)[0]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times, phases, losses = [], [], []
    for k in range(1 + spec["timed_steps"]):
        sync()
        t0 = time.perf_counter()
        res = worker.train_step(plan)
        sync()
        if k:
            times.append(time.perf_counter() - t0)
            phases.append(res[0]["timing"])
        losses.append(merge_loss_stats(res[0]["parts"])["loss"])
    step_s = statistics.mean(times)
    fl = step_flops(plan, spec["n_lm"], spec["n_vis"], info["trainable_params"] if lora else 0, lora, cfg.grpo.beta)
    peak = spec["peak_tflops"]
    out = {"step_s": step_s, "step_s_all": [round(t, 4) for t in times], "setup_s": info["setup_s"],
           "trainable_params": info["trainable_params"], "micro_batches": len(plan[0].micro_batches), **fl,
           "tokens_per_s": fl["tokens"] / step_s, "tflops_achieved": fl["flops_per_step"] / step_s / 1e12,
           "mfu": fl["flops_per_step"] / (step_s * peak * 1e12) if peak else None, "losses": losses,
           "grad_norm": res[0]["grad_norm"], "beta": cfg.grpo.beta, "lora_targets": cfg.learner.lora.target_modules if lora else None,
           **{k: statistics.mean(p[k] for p in phases) for k in phases[0]}}
    if torch.cuda.is_available():
        out["peak_gib"] = torch.cuda.max_memory_allocated() / GIB
    log(f"> step {step_s:.3f}s (of {out['step_s_all']}), {out['tokens_per_s']:.0f} tok/s, "
        f"{out['tflops_achieved']:.3g} TFLOP/s, MFU {out['mfu'] if out['mfu'] is None else round(out['mfu'], 4)}")
    try:
        out["sync"] = weight_sync(worker, spec, "lora" if lora else "full")
    except Exception as exc:  # noqa: BLE001 - the step figures stand on their own
        traceback.print_exc()
        out["sync_error"] = f"{type(exc).__name__}: {exc}"
    return out


# Transports this job cannot run on the lent machine, and why (recorded in every sync result).
NOT_RUN = {
    "collective": "NCCL needs one GPU per rank: learner rank 0 and a rollout engine on the one lent GPU cannot "
                  "form a group (over gloo it is the CPU path bench/weight_sync.py measures)",
    "rdt": "sends over the same weight group (NCCL on GPU), so it needs one GPU per rank too; Ray's one-sided "
           "cuda_ipc transport (one GPU, two processes) is not wired in (README, Weight sync)",
}


def _best_s(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def copy_bandwidth(nbytes: int, on_gpu: bool) -> dict:
    """The device's own copy speeds for `nbytes`, the yardstick of a sync's GB/s: device to device, and
    host to/from device through pinned memory (what a sync through host memory pays once each way)."""
    dev = "cuda" if on_gpu else "cpu"
    src = torch.empty(nbytes, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    out = {"copy_d2d_gb_per_s": nbytes / _best_s(lambda: dst.copy_(src)) / 1e9}
    if on_gpu:
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        out["copy_h2d_gb_per_s"] = nbytes / _best_s(lambda: dst.copy_(host, non_blocking=True)) / 1e9
        out["copy_d2h_gb_per_s"] = nbytes / _best_s(lambda: host.copy_(src, non_blocking=True)) / 1e9
    return out


def weight_sync(worker, spec: dict, kind: str) -> dict:
    """Weight sync through Ray's object store when ray imports (a local instance), else in-process."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return _sync(worker, spec, kind, "inprocess")
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        return _sync(worker, spec, kind, "objref")
    finally:
        ray.shutdown()


def _sync(worker, spec: dict, kind: str, transport: str) -> dict:
    """worker.export -> engine.load_weights into an HF rollout engine, twice (the first pays one-time
    allocations and is not timed); then checks one tensor arrived intact."""
    from radrl_dist.config.schema import ModelConfig, RolloutConfig
    from radrl_dist.rollout.engines import make_engine

    on_gpu = spec["on_gpu"]
    engine = make_engine(RolloutConfig(engine="hf", gpus_per_actor=1.0 if on_gpu else 0.0),
                         ModelConfig(family="qwen2_vl", path=spec["model_dir"], dtype="bfloat16" if on_gpu else "float32",
                                     min_pixels=spec["min_pixels"], max_pixels=spec["max_pixels"]),
                         max_prompt_length=spec["max_prompt_length"], engine_id="sync-check")
    first = None
    for version in (1, 2):
        sync()
        t0 = time.perf_counter()
        m = worker.export(version, kind, transport=transport)
        export_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.load_weights(m)
        sync()
        load_s = time.perf_counter() - t0
        first = first or {"first_export_wall_s": export_wall, "first_load_s": load_s}
    nbytes = m.meta["bytes"]
    # the meta's phase timings (gather_s, pack_s, publish_s, export_s, ... whichever the transport reports)
    phases = {k: v for k, v in m.meta.items() if k.endswith("_s") and isinstance(v, (int, float))}
    export_s = phases.get("export_s", export_wall)
    out = {"kind": kind, "transport": transport, "bytes": nbytes, "num_buckets": m.meta["num_buckets"], **phases,
           "export_s": export_s, "export_wall_s": export_wall, "load_s": load_s,
           "gb_per_s": nbytes / (export_s + load_s) / 1e9, "load_gb_per_s": nbytes / load_s / 1e9, **first,
           **check_loaded(worker, engine, m), **copy_bandwidth(nbytes, on_gpu), "transports_not_run": NOT_RUN}
    out["sync_vs_d2d_copy"] = out["gb_per_s"] / out["copy_d2d_gb_per_s"]
    detail = ", ".join(f"{k[:-2]} {v:.3f}" for k, v in phases.items() if k != "export_s")
    log(f"> sync {kind} via {transport}: {nbytes / 1e6:.2f} MB, export {export_s:.3f}s ({detail}), "
        f"load {load_s:.3f}s, {out['gb_per_s']:.3f} GB/s ({out['sync_vs_d2d_copy']:.3f} of a device copy); "
        f"{out['check_name']} engine == learner: {out['check_ok']}")
    return out


def check_loaded(worker, engine, manifest) -> dict:
    """The engine's weight for one named tensor equals the learner's (LoRA: W0 + scale * B @ A)."""
    import deepspeed

    from radrl_dist.rollout.lora_merge import base_name, lora_scale

    module = worker.engine.module
    learner = dict(module.named_parameters())
    served = engine.model.state_dict()
    if manifest.kind == "full":
        name = next(e.name for e in manifest.entries if len(e.shape) == 2 and ".layers." in e.name)
        p = learner[name]
        with deepspeed.zero.GatheredParameters([p], modifier_rank=None):
            want = p.data.detach().float().cpu().clone()
        changed = None
    else:
        a_name = next(e.name for e in manifest.entries if ".lora_A." in e.name)
        name, _ = base_name(a_name)
        mod = module.get_submodule("base_model.model." + name.removesuffix(".weight"))
        params = [mod.base_layer.weight, mod.lora_A["default"].weight, mod.lora_B["default"].weight]
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            w0, a, b = (t.data.detach().cpu().clone() for t in params)
        delta = lora_scale(manifest.lora_config) * (b.float() @ a.float())
        want = (w0.float() + delta).to(w0.dtype).float()
        changed = float((want != w0.float()).float().mean())  # share of elements the adapter moved
    got = served[name].detach().float().cpu()
    diff = float((got - want).abs().max())
    return {"check_name": name, "check_max_abs_diff": diff, "check_ok": diff == 0.0, "check_lora_changed_frac": changed}


def child_main(spec_path: str) -> None:
    """Run one job and print its JSON; exits at once, skipping vLLM/DeepSpeed teardown (it can hang)."""
    spec = json.loads(Path(spec_path).read_text())
    out = vllm_job(spec) if spec["job"] == "vllm" else learner_job(spec)
    print(json.dumps(out, default=float), flush=True)
    sys.stderr.flush()
    os._exit(0)
