"""Learner step time and weight-export cost on the tiny VLM (CPU: gloo; GPU: NCCL, bf16).

Splits a GRPO step into log-prob (policy forward + loss), reference forward, backward, optimizer,
and export (ZeRO-3 gather + bucket packing + ray.put), and compares export bandwidth with a plain
in-process tensor copy of the same number of bytes. Last line: one JSON object.

    python bench/learner.py [--workers 2] [--zero 3] [--full] [--steps 4] [--hidden 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def copy_seconds(nbytes: int, repeats: int = 50) -> float:
    """Best of `repeats` in-process copies of `nbytes` (best-of: the machine may be shared)."""
    src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8)
    dst = torch.empty_like(src)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a plain memcpy; thread wake-ups on a busy machine would dominate small copies
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--zero", type=int, default=3, choices=[0, 1, 2, 3])
    ap.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64, help="tiny model hidden size")
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--gpus-per-worker", type=float, default=0.0)
    args = ap.parse_args()

    import ray

    from radrl_dist.config.schema import RadRLConfig
    from radrl_dist.learner.group import LearnerGroup
    from radrl_dist.learner.synthetic import synthetic_candidates
    from radrl_dist.models.loading import resolve_model_path

    cfg = RadRLConfig.model_validate({
        "model": {"tiny": {"hidden_size": args.hidden}},
        "learner": {"num_workers": args.workers, "zero_stage": args.zero, "cpus_per_worker": 1,
                    "gpus_per_worker": args.gpus_per_worker, "micro_batch_size": 4, "lr": 1e-3,
                    "lora": {"enabled": not args.full}},
        "grpo": {"beta": args.beta},
        "train": {"steps": args.steps + 1},
    })
    path = resolve_model_path(cfg.model)
    cands = synthetic_candidates(path, n_prompts=4, group_size=4, max_len=24, seed=0)
    ray.init(address="local", num_cpus=max(4, args.workers * 2), include_dashboard=False, log_to_driver=False)
    t0 = time.perf_counter()
    group = LearnerGroup(cfg, path)
    print(f"group of {args.workers} x ZeRO-{args.zero} {'full' if args.full else 'LoRA'} up in "
          f"{time.perf_counter() - t0:.1f} s (init_distributed {group.setup_info[0]['init_distributed_s']:.2f} s, "
          f"trainable params {group.setup_info[0]['trainable_params']:,})")
    group.train_step(cands)  # warm-up
    group.export()
    steps, exports = [], []
    for i in range(args.steps):
        steps.append(group.train_step(cands))
        exports.append(group.export())
        print(f"step {i}: loss {steps[-1]['loss']:+.4f} kl {steps[-1]['kl']:.4f} step {steps[-1]['step_s']:.3f} s "
              f"export {exports[-1].meta['export_s'] * 1e3:.1f} ms")
    med = lambda xs: statistics.median(xs)  # noqa: E731
    split = {k: med([s[k] for s in steps]) for k in ("logprob_s", "reference_s", "backward_s", "optimizer_s", "step_s")}
    exp_s = med([m.meta["export_s"] for m in exports])
    nbytes = exports[-1].meta["bytes"]
    merged = group.export(kind="merged") if not args.full else None
    cp_s = copy_seconds(nbytes)
    tokens = steps[-1]["tokens"]
    print(f"step {split['step_s']:.3f} s = log-prob {split['logprob_s']:.3f} + reference {split['reference_s']:.3f} "
          f"+ backward {split['backward_s']:.3f} + optimizer {split['optimizer_s']:.3f} (+ planning/transfer); "
          f"{tokens / split['step_s']:.0f} completion tokens/s")
    part = {k: med([m.meta[k] for m in exports]) * 1e3 for k in ("gather_s", "publish_s")}
    print(f"export {exports[-1].kind} (medians): {nbytes:,} bytes in {exp_s * 1e3:.2f} ms "
          f"(gather {part['gather_s']:.2f}, pack + ray.put {part['publish_s']:.2f}) "
          f"= {nbytes / exp_s / 1e6:.1f} MB/s; "
          f"in-process copy {cp_s * 1e6:.1f} us = {nbytes / cp_s / 1e6:.0f} MB/s; export takes {exp_s / cp_s:.0f}x the copy")
    out = {"workers": args.workers, "zero_stage": args.zero, "lora": not args.full, "step_s": split["step_s"],
           **{k: v for k, v in split.items() if k != "step_s"}, "export_s": exp_s, "export_bytes": nbytes,
           "export_bytes_per_s": nbytes / exp_s, "copy_bytes_per_s": nbytes / cp_s, "export_vs_copy": cp_s / exp_s,
           "tokens_per_step": tokens}  # *_vs_copy: bandwidth ratios, export bytes/s over copy bytes/s
    if merged is not None:
        mcp = copy_seconds(merged.meta["bytes"])
        print(f"export merged (full LM): {merged.meta['bytes']:,} bytes in {merged.meta['export_s'] * 1e3:.2f} ms = "
              f"{merged.meta['bytes'] / merged.meta['export_s'] / 1e6:.1f} MB/s; copy {merged.meta['bytes'] / mcp / 1e6:.0f} MB/s")
        out.update(merged_export_s=merged.meta["export_s"], merged_bytes=merged.meta["bytes"],
                   merged_export_vs_copy=mcp / merged.meta["export_s"])
    group.shutdown()
    ray.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
