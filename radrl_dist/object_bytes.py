"""What this process pulls out of Ray: `get` is `ray.get` that adds the pickled size of what it returns.

Why: the driver should move references, not payloads (issue 21). The training loop logs the bytes
it received per step as `driver/bytes_in`; every `ray.get` on the driver's data path goes through
here (rollout summaries, reward summaries, learner metrics), and objects the driver receives from
code that does its own `ray.get` (weight-sync stats) are added with `add`. The size is the object's
pickle (protocol 5), which is what Ray ships for these plain Python objects. Per process, thread-safe.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

import ray

_lock = threading.Lock()
_received = 0


def add(obj: Any) -> int:
    """Count `obj` as received; returns its size in bytes."""
    global _received
    n = len(pickle.dumps(obj, protocol=5))
    with _lock:
        _received += n
    return n


def get(refs: Any, timeout: float | None = None) -> Any:
    """`ray.get(refs, timeout=timeout)`, counting what came back."""
    out = ray.get(refs, timeout=timeout)
    add(out)
    return out


def take() -> int:
    """Bytes received since the last `take` (and start counting again)."""
    global _received
    with _lock:
        n, _received = _received, 0
    return n
