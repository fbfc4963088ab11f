"""Weight sync per transport: end-to-end sync time against an in-process copy, with 1/2/4 receivers.

What one "sync" is, timed in this process (which plays learner rank 0 with one `WeightSender`, kept
across versions as the learner keeps it): publish + deliver + engine load, until every receiver
holds the new version. Receivers are Ray actors holding an `nn.Module` of the same tensors and
loading through `weight_sync.receive.ModuleWeights`, the rollout engines' own loader:
- objref/adopt (the CPU HF engine): `ray.put` of tensor views cut into 1 MiB pieces (one copy into
  the store), then each receiver's `ray.get` (zero-copy) and its parameters *become* the store views;
- objref/copy (what vLLM and GPU engines do): the same, plus one copy into the receiver's weights;
- collective/copy: the receivers post their receives, this process broadcasts packed buckets over a
  gloo group (double-buffered staging), each receiver copies into its weights once all arrived;
- rdt/copy: a sender actor (RDT sources must be actors) packs the buckets and keeps them; each
  receiver's load task gets its Ray Direct Transport ref and Ray sends the buckets to it point to
  point over the same kind of gloo group; the receiver copies into its weights. Its time includes
  the actor call that publishes (the other rows publish in this process).
Tensors: float32, 4 MiB each, like a model's layers; buckets of 64 MiB (learner.export_bucket_mb).

Baseline ("copy"): `dst.copy_(src)` of the same tensors in this process with one torch thread (Ray
actors with fractional CPUs run one thread; on a busy 2-core machine a 2-thread copy stalls on a
preempted thread and understates the baseline several-fold).

- sync_vs_copy: copy seconds / sync seconds with one receiver, paired within each repeat (copy, then
  sync, back to back: a neighbour's load slows both alike), median over repeats with min-max beside it;
  headline: the best CPU row at 1 GiB, one receiver.
- sync_s_N: wall seconds until all N receivers hold the version (median, min, max over repeats);
  receivers_N_vs_1: median N-receiver time / median 1-receiver time.
- load_avg: the 1-minute load average before and after (other processes share this machine).

Memory: a size x row x receiver count runs only when this machine's MemAvailable covers what it
holds (source, copy baseline, two versions in the object store, per-receiver weights or buffers),
with 1.5 GiB to spare; the rest is listed under "skipped" with the reason. The object store is sized
for the largest size that fits and prefaulted at start (`preallocate_plasma_memory`: without it every
put into not-yet-touched store pages page-faults, 2-4x slower publishes here; --no-prefault-store).

Usage: python bench/weight_sync.py [--sizes-mb 64,1024,4096] [--receivers 1,2,4]
           [--rows objref/adopt,objref/copy,collective/copy,rdt/copy] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time

import ray
import torch

from radrl_dist.weight_sync import rdt
from radrl_dist.weight_sync.endpoints import WeightReceiver, WeightSender
from radrl_dist.weight_sync.manifest import is_store_backed, manifest_tensors
from radrl_dist.weight_sync.receive import ModuleWeights
from radrl_dist.weight_sync.transport import actor_class_for

BENCH_TIMEOUT_S = 1800  # bench/run_all.py's budget: 4 GiB rows and a prefaulted 10 GiB store take minutes on a busy 2-core machine
TENSOR_MB = 4
BUCKET_BYTES = 64 * 1024**2  # learner.export_bucket_mb default
GiB = 1024**3
SPARE_BYTES = int(1.5 * GiB)
ROWS = ("objref/adopt", "objref/copy", "collective/copy", "rdt/copy")
GROUP_TRANSPORTS = ("collective", "rdt")
# Uncounted rounds per receiver count: the first pages in buffers and receivers' weights, and the
# sender's first touch of the object store: this process page-faults each store region on its first
# put into it (262k minor faults per GiB measured; the raylet's prefault does not map the pages into
# the sender) and successive versions land in different regions of a store larger than two of them,
# so the warm-up cycles through the whole store once (a long run's learner has, after a few pushes).
# Measured 2026-12-02 with 2 warm rounds: 1 GiB in a 9 GiB store synced in 0.21 s, in a 2.25 GiB
# store in 0.10 s.
MIN_WARM_ROUNDS, MAX_WARM_ROUNDS = 2, 40


def warm_rounds(store_bytes: int, size_bytes: int) -> int:
    return max(MIN_WARM_ROUNDS, min(MAX_WARM_ROUNDS, -(-store_bytes // size_bytes) + 1))


def make_state(size_mb: int) -> dict[str, torch.Tensor]:
    n = max(1, size_mb // TENSOR_MB)
    numel = min(size_mb, TENSOR_MB) * 1024**2 // 4
    return {f"layers.{i}.weight": torch.randn(numel) for i in range(n)}


class _Layer(torch.nn.Module):
    def __init__(self, numel: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(numel), requires_grad=False)


class _Weights(torch.nn.Module):
    """A model-shaped holder: `layers.{i}.weight`, the names `make_state` gives."""

    def __init__(self, shapes: list[int]):
        super().__init__()
        self.layers = torch.nn.ModuleList(_Layer(n) for n in shapes)


@ray.remote(num_cpus=0.25)
class Receiver:
    """Holds weights like a rollout engine and loads a manifest (or a broadcast) into them."""

    def __init__(self):
        torch.set_num_threads(1)
        self.weights: ModuleWeights | None = None
        self.receiver = WeightReceiver()

    def prepare(self, shapes: list[int]) -> None:
        self.weights = ModuleWeights(_Weights(shapes))

    def load(self, manifest, adopt: bool) -> int:
        stats = self.weights.load(manifest_tensors(manifest), adopt=adopt and is_store_backed(manifest))
        return stats.adopted

    def join(self, port: int, world: int, rank: int) -> None:
        self.receiver.join_group("127.0.0.1", port, world, rank, "127.0.0.1", 120.0)

    def receive(self) -> int:
        return self.weights.load(manifest_tensors(self.receiver.receive()), adopt=False).adopted

    def load_rdt(self, header, buckets: list) -> int:
        return self.weights.load(manifest_tensors(rdt.with_buckets(header, buckets)), adopt=False).adopted

    def leave(self) -> None:
        self.receiver.leave_group()

    def drop(self) -> None:
        self.weights = None
        self.receiver.leave_group()


class RdtSender:
    """Learner rank 0 for the rdt row: holds its own copy of the state (same shapes, its own values)."""

    def __init__(self, size_mb: int):
        torch.set_num_threads(1)
        self.state = make_state(size_mb)
        self.sender = WeightSender()

    def join(self, port: int, world: int) -> None:
        self.sender.join_group("127.0.0.1", port, world, "127.0.0.1", 120.0)

    def publish(self, version: int):
        return self.sender.publish("rdt", version, "full", self.state.items(), BUCKET_BYTES)

    def rdt_buckets(self, version: int) -> list:
        return self.sender.rdt_buckets(version)

    def leave(self) -> None:
        self.sender.leave_group()


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def bytes_needed(row: str, size_bytes: int, receivers: int) -> int:
    """What one (row, size, receiver count) holds at once, besides the object store."""
    transport, load = row.split("/")
    need = 2 * size_bytes  # the source tensors and the copy baseline's destination
    if load == "copy":
        need += receivers * size_bytes  # each receiver's own weights
    if transport == "collective":
        need += receivers * size_bytes + 2 * BUCKET_BYTES  # receive buffers, sender staging
    if transport == "rdt":
        need += receivers * size_bytes + 2 * size_bytes  # receive buffers; the sender actor's state and staging
    return need


def sync_once(row: str, sender, state: dict, version: int, receivers: list) -> float:
    """`sender`: this process's WeightSender, or the RdtSender actor for the rdt row."""
    transport, load = row.split("/")
    t0 = time.perf_counter()
    if transport == "rdt":
        header = sender.publish.remote(version)
        buckets = sender.rdt_buckets.options(tensor_transport=rdt.TENSOR_TRANSPORT).remote(version)
        adopted = ray.get([r.load_rdt.remote(header, buckets) for r in receivers])
        del header, buckets
    elif transport == "objref":
        manifest = sender.publish("objref", version, "full", state.items(), BUCKET_BYTES)
        adopted = ray.get([r.load.remote(manifest, load == "adopt") for r in receivers])
        del manifest
    else:
        calls = [r.receive.remote() for r in receivers]
        sender.publish("collective", version, "full", state.items(), BUCKET_BYTES)
        adopted = ray.get(calls)
    dt = time.perf_counter() - t0
    want = len(state) if load == "adopt" else 0
    if adopted != [want] * len(receivers):
        raise RuntimeError(f"{row}: receivers adopted {adopted} tensors, expected {want} each")
    return dt


def bench_size(row: str, size_mb: int, receivers: list, counts: list[int], repeats: int, warm: int) -> dict:
    """Per receiver count: a fresh group (collective), then repeats of (copy, sync) back to back."""
    transport = row.split("/")[0]
    state = make_state(size_mb)
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    dst = {k: torch.empty_like(v) for k, v in state.items()}
    ray.get([r.prepare.remote([t.numel() for t in state.values()]) for r in receivers[: max(counts)]])
    sender = actor_class_for(ray.remote(RdtSender), "rdt").options(num_cpus=0.25).remote(size_mb) \
        if transport == "rdt" else WeightSender()
    copy_s, ratio, sync = [], [], {n: [] for n in counts}
    version = 0
    failed: dict[int, str] = {}
    for n in counts:
        group = receivers[:n]
        try:
            if transport in GROUP_TRANSPORTS:
                port = _free_port()
                calls = [r.join.remote(port, n + 1, k + 1) for k, r in enumerate(group)]
                if transport == "rdt":
                    ray.get(calls + [sender.join.remote(port, n + 1)])
                    rdt.set_group_members([sender, *group])
                else:
                    sender.join_group("127.0.0.1", port, n + 1, "127.0.0.1", 120.0)
                    ray.get(calls)
            for rep in range(-warm, repeats):
                t0 = time.perf_counter()
                for k, v in state.items():
                    dst[k].copy_(v)
                c = time.perf_counter() - t0
                version += 1
                s = sync_once(row, sender, state, version, group)
                if rep >= 0:
                    sync[n].append(s)
                    if n == counts[0]:
                        copy_s.append(c)
                        ratio.append(c / s)
            if transport in GROUP_TRANSPORTS:
                ray.get([r.leave.remote() for r in group])
                if transport == "rdt":
                    ray.get(sender.leave.remote())
                else:
                    sender.leave_group()
        except (ray.exceptions.RayError, RuntimeError) as exc:  # e.g. Ray's OOM killer took a receiver
            failed[n] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print(f"{row} {size_mb} MiB x{n} receivers failed: {failed[n]}", flush=True)
            sync.pop(n)
            break
    if transport == "rdt":
        ray.kill(sender)
    else:
        sender.close()
    if not ratio:  # not even one receiver's repeats finished
        return {"row": row, "size_mb": size_mb, "failed": failed}
    if not failed:
        ray.get([r.drop.remote() for r in receivers])
    counts = [n for n in counts if n in sync]
    med = {n: statistics.median(v) for n, v in sync.items()}
    copy_bps = nbytes / statistics.median(copy_s)
    out = {"row": row, "transport": transport, "load": row.split("/")[1], "size_mb": size_mb, "bytes": nbytes, "warm_rounds": warm,
           "copy_bytes_per_s": copy_bps, "sync_bytes_per_s": nbytes / med[counts[0]],
           "sync_vs_copy": statistics.median(ratio), "sync_vs_copy_spread": spread(ratio),
           **{f"sync_s_{n}": spread(v) for n, v in sync.items()},
           **{f"receivers_{n}_vs_{counts[0]}": med[n] / med[counts[0]] for n in counts[1:]},
           **({"failed": failed} if failed else {})}
    print(f"{row:>16} {size_mb:6d} MiB: copy {copy_bps / 1e9:6.2f} GB/s | "
          + " | ".join(f"{n} recv {med[n]:.3f} s" for n in counts)
          + f" | sync {out['sync_bytes_per_s'] / 1e9:.2f} GB/s; paired copy/sync {out['sync_vs_copy']:.2f}"
          f" ({min(ratio):.2f}-{max(ratio):.2f})", flush=True)
    return out


STORE_VERSIONS = 2.25  # object store per size: the version receivers hold, the next one, a quarter to spare


def plan(sizes: list[int], rows: list[str], counts: list[int], available: int) -> tuple[list, list, int]:
    """(runs as (row, size, receiver counts that fit), skipped with reasons, object-store bytes)."""
    def need(row: str, size_mb: int, n: int, store: int) -> int:
        return store + bytes_needed(row, size_mb * 1024**2, n) + SPARE_BYTES

    fits = [s for s in sizes if need("objref/adopt", s, 1, int(STORE_VERSIONS * s * 1024**2)) <= available]
    store = int(STORE_VERSIONS * max(fits, default=min(sizes)) * 1024**2)
    runs, skipped = [], []
    for s in sizes:
        for row in rows:
            ok = [n for n in counts if s in fits and need(row, s, n, store) <= available]
            if counts[0] not in ok:
                ok = []
            else:
                runs.append((row, s, ok))
            own = store if s in fits else int(STORE_VERSIONS * s * 1024**2)  # the store this size would need
            skipped += [f"{row} {s} MiB x{n} receivers: needs {need(row, s, n, own) / GiB:.1f} GiB "
                        f"(object store {own / GiB:.1f}), {available / GiB:.1f} GiB available"
                        for n in counts if n not in ok]
    return runs, skipped, store


def start_ray(store: int, prefault: bool) -> bool:
    """A local Ray with the store sized for the plan; returns whether its pages were prefaulted.

    The raylet prefaults before it registers, and Ray 2.60 waits a fixed 30 s for that: on a busy
    machine a prefault of a few GiB took longer, so the bench then starts without it (the warm-up
    rounds fault the pages in instead) and says so in its JSON."""
    for attempt in ([True, False] if prefault else [False]):
        try:
            ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
                     object_store_memory=max(store, 512 * 1024**2),
                     _system_config={"preallocate_plasma_memory": attempt})
            return attempt
        except Exception as exc:  # noqa: BLE001 - "The current node timed out during startup"
            ray.shutdown()
            if not attempt:
                raise
            print(f"Ray did not start with a prefaulted store ({str(exc)[:80]}); starting without", flush=True)
    raise AssertionError("unreachable")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="64,1024,4096")
    ap.add_argument("--receivers", default="1,2,4")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"transport/load pairs among {', '.join(ROWS)}")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-prefault-store", dest="prefault_store", action="store_false",
                    help="leave the object store's pages untouched at start (each fresh put then page-faults)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = sorted(int(s) for s in args.sizes_mb.split(","))
    counts = sorted(int(n) for n in args.receivers.split(","))
    rows = args.rows.split(",")
    if bad := [r for r in rows if r not in ROWS]:
        raise SystemExit(f"--rows: unknown {bad}; known: {', '.join(ROWS)}")
    load_before = os.getloadavg()[0]
    runs, skipped, store = plan(sizes, rows, counts, mem_available())
    for s in skipped:
        print(f"skipped {s}", flush=True)
    if not runs:
        raise SystemExit("nothing fits in this machine's available memory")
    prefault = start_ray(store, args.prefault_store)
    rdt_receiver = actor_class_for(Receiver, "rdt")  # rdt's receivers need Ray's tensor transport on
    receivers: dict[str, list] = {}

    def receivers_for(row: str) -> list:
        kind = "rdt" if row.startswith("rdt/") else "plain"
        if kind not in receivers:
            cls = rdt_receiver.options(num_cpus=0.25) if kind == "rdt" else Receiver
            receivers[kind] = [cls.remote() for _ in range(max(counts))]
        return receivers[kind]

    results, failures = [], {}
    for row, s, ok in runs:
        r = bench_size(row, s, receivers_for(row), ok, args.repeats, warm_rounds(store, s * 1024**2))
        if "failed" in r:  # a receiver may be dead: start fresh ones for the next row
            failures[f"{row} {s} MiB"] = r["failed"]
            for kind, actors in list(receivers.items()):
                for a in actors:
                    ray.kill(a)
                del receivers[kind]
        if "sync_vs_copy" in r:
            results.append(r)
    ray.shutdown()
    if not results:
        raise SystemExit(f"every row failed: {failures}")
    at = [r for r in results if r["size_mb"] == 1024] or [r for r in results if r["size_mb"] == max(r["size_mb"] for r in results)]
    best = max(at, key=lambda r: r["sync_vs_copy"])
    figures = {"sync_vs_copy": round(best["sync_vs_copy"], 4), "sync_vs_copy_row": best["row"],
               "sync_vs_copy_size_mb": best["size_mb"],
               "sync_vs_copy_min": round(best["sync_vs_copy_spread"]["min"], 4),
               "sync_vs_copy_max": round(best["sync_vs_copy_spread"]["max"], 4),
               "sync_gb_per_s": round(best["sync_bytes_per_s"] / 1e9, 3),
               "copy_gb_per_s": round(best["copy_bytes_per_s"] / 1e9, 3),
               "sync_includes": "publish + deliver + engine load (adopt or copy), all receivers, end to end",
               "copy_baseline": "in-process dst.copy_(src) of the same tensors, one torch thread",
               "prefault_store": prefault, "repeats": args.repeats,
               "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
               **{f"sync_vs_copy_{r['row'].replace('/', '_')}_{r['size_mb']}mb": round(r["sync_vs_copy"], 4) for r in results},
               **{f"receivers_{k.split('_')[1]}_vs_1_{r['row'].replace('/', '_')}_{r['size_mb']}mb": round(v, 3)
                  for r in results for k, v in r.items() if k.startswith("receivers_")},
               "skipped": skipped, "failed": failures,
               "rows": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in results]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
