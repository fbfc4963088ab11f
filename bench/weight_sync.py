"""Weight sync per transport: end-to-end sync time against an in-process copy, with 1/2/4 receivers.

For each transport and manifest size (float32 tensors of 4 MiB each, like a model's layers), this
process plays learner rank 0 (one `WeightSender`, kept across versions as the learner keeps it) and N
receiver actors load every tensor into preallocated weights, as a rollout engine's load does:
- objref: publish (`ray.put` of tensor views, one copy into the store), then the receivers' load
  (zero-copy `ray.get`, one `copy_` into the weights);
- collective: the receivers post their receives, this process broadcasts the packed buckets over a
  gloo group (double-buffered staging), the receivers copy into the weights once all buckets arrived.
The baseline is `dst.copy_(src)` of the same tensors in this process with one torch thread (Ray
actors with fractional CPUs run one thread; on a busy 2-core machine a 2-thread copy stalls on the
preempted thread and understates the baseline several-fold).

- sync_vs_copy: copy seconds / sync seconds with one receiver, paired within each repeat, median
  over repeats (spread beside it); headline: the best transport at 1 GiB (else the largest size run).
- sync_s_N: wall time until all N receivers hold the version (median of --repeats).

The object store is prefaulted at start (Ray's `preallocate_plasma_memory`, what a run sets with
RAY_preallocate_plasma_memory=1): without it every put into not-yet-touched store pages page-faults,
which measured 2-4x slower publishes here (--no-prefault-store to see it).

4 GiB needs about 5 x 4 GiB of RAM here (source, store/staging, receivers' weights): pass
--sizes-mb 64,1024,4096 only on a machine with the memory to spare.

Usage: python bench/weight_sync.py [--sizes-mb 64,1024] [--receivers 1,2] [--transports objref,collective] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time

import ray
import torch

from radrl_dist.weight_sync.endpoints import WeightReceiver, WeightSender
from radrl_dist.weight_sync.manifest import manifest_tensors

TENSOR_MB = 4
BUCKET_BYTES = 64 * 1024**2  # learner.export_bucket_mb default


def make_state(size_mb: int) -> dict[str, torch.Tensor]:
    n = max(1, size_mb // TENSOR_MB)
    numel = min(size_mb, TENSOR_MB) * 1024**2 // 4
    return {f"layers.{i}.weight": torch.randn(numel) for i in range(n)}


@ray.remote(num_cpus=0.25)
class Receiver:
    """Holds weights like a rollout engine and loads a manifest (or a broadcast) into them."""

    def __init__(self):
        self.weights: dict[str, torch.Tensor] = {}
        self.receiver = WeightReceiver()

    def _copy_in(self, manifest) -> None:
        for name, t in manifest_tensors(manifest):
            dst = self.weights.get(name)
            if dst is None or dst.shape != t.shape:
                dst = self.weights[name] = torch.empty_like(t)
            dst.copy_(t)

    def load(self, manifest) -> None:
        self._copy_in(manifest)

    def join(self, port: int, world: int, rank: int) -> None:
        self.receiver.join_group("127.0.0.1", port, world, rank, "127.0.0.1", 120.0)

    def receive(self) -> None:
        self._copy_in(self.receiver.receive())

    def leave(self) -> None:
        self.receiver.leave_group()

    def drop(self) -> None:
        self.weights.clear()
        self.receiver.leave_group()


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sync_once(transport: str, sender: WeightSender, state: dict, version: int, receivers: list) -> float:
    t0 = time.perf_counter()
    if transport == "objref":
        manifest = sender.publish("objref", version, "full", state.items(), BUCKET_BYTES)
        ray.get([r.load.remote(manifest) for r in receivers])
        del manifest
    else:
        calls = [r.receive.remote() for r in receivers]
        sender.publish("collective", version, "full", state.items(), BUCKET_BYTES)
        ray.get(calls)
    return time.perf_counter() - t0


def bench_size(transport: str, size_mb: int, receivers: list, counts: list[int], repeats: int) -> dict:
    """Per receiver count: a fresh group (collective), then repeats of (copy, sync) back to back, so
    the ratio is paired: a neighbour's load slows both sides of one repeat alike."""
    state = make_state(size_mb)
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    dst = {k: torch.empty_like(v) for k, v in state.items()}
    sender = WeightSender()
    copy_s, ratio, sync = [], [], {n: [] for n in counts}
    version = 0
    for n in counts:
        group = receivers[:n]
        if transport == "collective":
            port = _free_port()
            calls = [r.join.remote(port, n + 1, k + 1) for k, r in enumerate(group)]
            sender.join_group("127.0.0.1", port, n + 1, "127.0.0.1", 120.0)
            ray.get(calls)
        for rep in range(repeats + 1):  # the first round warms allocations (buffers, receivers) and is not counted
            t0 = time.perf_counter()
            for k, v in state.items():
                dst[k].copy_(v)
            c = time.perf_counter() - t0
            version += 1
            s = sync_once(transport, sender, state, version, group)
            if rep:
                sync[n].append(s)
                if n == counts[0]:
                    copy_s.append(c)
                    ratio.append(c / s)
        if transport == "collective":
            ray.get([r.leave.remote() for r in group])
            sender.leave_group()
    sender.close()
    ray.get([r.drop.remote() for r in receivers])
    med = {n: statistics.median(v) for n, v in sync.items()}
    copy_bps = nbytes / statistics.median(copy_s)
    row = {"transport": transport, "size_mb": size_mb, "bytes": nbytes, "copy_bytes_per_s": copy_bps,
           "sync_bytes_per_s": nbytes / med[counts[0]], "sync_vs_copy": statistics.median(ratio),
           "sync_vs_copy_spread": spread(ratio), **{f"sync_s_{n}": spread(v) for n, v in sync.items()},
           **{f"receivers_{n}_vs_{counts[0]}": med[n] / med[counts[0]] for n in counts[1:]}}
    print(f"{transport:>10} {size_mb:6d} MiB: copy {copy_bps / 1e9:6.2f} GB/s | "
          + " | ".join(f"{n} recv {med[n]:.3f} s" for n in counts)
          + f" | sync {row['sync_bytes_per_s'] / 1e9:.2f} GB/s; paired sync/copy {row['sync_vs_copy']:.2f}"
          f" ({min(ratio):.2f}-{max(ratio):.2f})", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="64,1024")
    ap.add_argument("--receivers", default="1,2,4")
    ap.add_argument("--transports", default="objref,collective")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-prefault-store", dest="prefault_store", action="store_false",
                    help="leave the object store's pages untouched at start (each fresh put then page-faults)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    counts = sorted(int(n) for n in args.receivers.split(","))
    transports = args.transports.split(",")
    store = min(int(max(sizes) * 1024**2 * 3), 12 * 1024**3)
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             object_store_memory=max(store, 512 * 1024**2),
             _system_config={"preallocate_plasma_memory": args.prefault_store})
    receivers = [Receiver.remote() for _ in range(max(counts))]
    rows = [bench_size(t, s, receivers, counts, args.repeats) for s in sizes for t in transports]
    ray.shutdown()
    at = [r for r in rows if r["size_mb"] == 1024] or [r for r in rows if r["size_mb"] == max(sizes)]
    best = max(at, key=lambda r: r["sync_vs_copy"])
    figures = {"sync_vs_copy": round(best["sync_vs_copy"], 4), "sync_vs_copy_transport": best["transport"],
               "prefault_store": args.prefault_store,
               "sync_vs_copy_size_mb": best["size_mb"],
               "sync_vs_copy_min": round(best["sync_vs_copy_spread"]["min"], 4),
               "sync_vs_copy_max": round(best["sync_vs_copy_spread"]["max"], 4),
               "sync_gb_per_s": round(best["sync_bytes_per_s"] / 1e9, 3),
               "copy_gb_per_s": round(best["copy_bytes_per_s"] / 1e9, 3),
               **{f"sync_s_{n}_{r['transport']}_{r['size_mb']}mb": round(r[f"sync_s_{n}"]["median"], 4)
                  for r in rows for n in counts},
               "rows": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
