"""Weight sync through Ray object refs: bytes/s against an in-process copy, and 1/2/4 receivers.

For each manifest size (float32 tensors of 4 MiB each, like a model's layers): the learner side packs
the state into buckets and `ray.put`s them (ObjectRefTransport.publish, what LearnerGroup.export
does, with one transport object kept across versions as the learner keeps it); N receiver actors then
fetch the buckets and copy every tensor into preallocated weights, as a rollout engine's load does.
The baseline is `dst.copy_(src)` of the same tensors in one process. The transport copies the bytes
twice (into a bucket, then into the object store, overlapped across buckets) and the receiver once.

- sync_bytes_per_s: bytes / (publish + the one-receiver load), end to end.
- sync_vs_copy: copy seconds / (publish + one-receiver load) seconds, paired within each repeat, median
  over repeats (spread beside it), for the largest size run (target >= 0.5).
- load_s_N: wall time until all N receivers have loaded the same version (median of --repeats).

Sizes: 16 MiB is the order of a LoRA r=16 adapter on a 2B model's attention; 1 GiB and up are
full-model manifests. 4 GiB needs about 5 x 4 GiB of RAM here (source, buckets, object store,
receivers' weights), so the default stops at 1 GiB on a 24 GiB machine; pass --sizes-mb to go further.

Usage: python bench/weight_sync.py [--sizes-mb 1,16,256,1024] [--receivers 1,2,4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import ray
import torch

from radrl_dist.weight_sync.manifest import manifest_tensors
from radrl_dist.weight_sync.objref import ObjectRefTransport

TENSOR_MB = 4
BUCKET_BYTES = 256 * 1024**2  # learner.export_bucket_mb default


def make_state(size_mb: int) -> dict[str, torch.Tensor]:
    n = max(1, size_mb // TENSOR_MB)
    numel = min(size_mb, TENSOR_MB) * 1024**2 // 4
    return {f"layers.{i}.weight": torch.randn(numel) for i in range(n)}


@ray.remote(num_cpus=0.25)
class Receiver:
    """Holds weights like a rollout engine and loads a manifest into them."""

    def __init__(self):
        self.weights: dict[str, torch.Tensor] = {}

    def load(self, manifest) -> float:
        t0 = time.perf_counter()
        for name, t in manifest_tensors(manifest):
            dst = self.weights.get(name)
            if dst is None or dst.shape != t.shape:
                dst = self.weights[name] = torch.empty_like(t)
            dst.copy_(t)
        return time.perf_counter() - t0

    def drop(self) -> None:
        self.weights.clear()


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def bench_size(size_mb: int, receivers: list[Receiver], counts: list[int], repeats: int) -> dict:
    """Each repeat times the copy, the publish and the loads back to back, so the ratio is paired:
    a neighbour's load slows both sides of one repeat alike instead of skewing the medians apart."""
    state = make_state(size_mb)
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    dst = {k: torch.empty_like(v) for k, v in state.items()}
    copy_s, publish_s, wait_s, ratio, load = [], [], [], [], {n: [] for n in counts}
    transport = ObjectRefTransport()
    for rep in range(repeats + 1):  # the first round warms allocations (staging, receivers) and is not counted
        t0 = time.perf_counter()
        for k, v in state.items():
            dst[k].copy_(v)
        c = time.perf_counter() - t0
        t0 = time.perf_counter()
        manifest = transport.publish(rep + 1, "full", state.items(), BUCKET_BYTES)
        p = time.perf_counter() - t0
        seconds = {}
        for n in counts:
            t0 = time.perf_counter()
            ray.get([r.load.remote(manifest) for r in receivers[:n]])
            seconds[n] = time.perf_counter() - t0
        if rep:
            copy_s.append(c)
            publish_s.append(p)
            wait_s.append(manifest.meta["put_wait_s"])
            ratio.append(c / (p + seconds[counts[0]]))
            for n in counts:
                load[n].append(seconds[n])
        del manifest
    ray.get([r.drop.remote() for r in receivers])
    med = {n: statistics.median(v) for n, v in load.items()}
    end_to_end = statistics.median(publish_s) + med[counts[0]]
    copy_bps = nbytes / statistics.median(copy_s)
    row = {"size_mb": size_mb, "bytes": nbytes, "copy_bytes_per_s": copy_bps, "sync_bytes_per_s": nbytes / end_to_end,
           "sync_vs_copy": statistics.median(ratio), "sync_vs_copy_spread": spread(ratio),
           "publish_s": spread(publish_s), "put_wait_s": spread(wait_s),
           **{f"load_s_{n}": spread(v) for n, v in load.items()}}
    print(f"{size_mb:6d} MiB: copy {copy_bps / 1e9:6.2f} GB/s | publish {row['publish_s']['median']:.3f} s "
          f"(waiting on puts {row['put_wait_s']['median']:.3f}) | "
          + " | ".join(f"{n} recv {med[n]:.3f} s" for n in counts)
          + f" | sync {row['sync_bytes_per_s'] / 1e9:.2f} GB/s; paired sync/copy {row['sync_vs_copy']:.2f}"
          f" ({min(ratio):.2f}-{max(ratio):.2f})")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="1,16,256,1024")
    ap.add_argument("--receivers", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    counts = sorted(int(n) for n in args.receivers.split(","))
    store = min(int(max(sizes) * 1024**2 * 4), 12 * 1024**3)
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             object_store_memory=max(store, 512 * 1024**2))
    receivers = [Receiver.remote() for _ in range(max(counts))]
    rows = [bench_size(s, receivers, counts, args.repeats) for s in sizes]
    ray.shutdown()
    largest = rows[-1]
    figures = {"sync_vs_copy": round(largest["sync_vs_copy"], 4), "sync_vs_copy_size_mb": largest["size_mb"],
               "sync_vs_copy_min": round(largest["sync_vs_copy_spread"]["min"], 4),
               "sync_vs_copy_max": round(largest["sync_vs_copy_spread"]["max"], 4),
               "sync_gb_per_s": round(largest["sync_bytes_per_s"] / 1e9, 3),
               "copy_gb_per_s": round(largest["copy_bytes_per_s"] / 1e9, 3),
               **{f"load_s_{n}_{r['size_mb']}mb": round(r[f"load_s_{n}"]["median"], 4) for r in rows for n in counts},
               "rows": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
