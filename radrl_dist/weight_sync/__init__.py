"""Weights from learner to rollout (DESIGN section 5): one manifest type, pluggable transports.

`pack_state` turns named tensors into size-bounded buckets and a versioned `WeightManifest`;
a transport moves the buckets (today: Ray object refs, `objref.py`); `iter_tensors` yields the
tensors back on the receiving side without an extra copy where the transport allows.
"""

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest, iter_tensors, manifest_tensors, pack_state

__all__ = ["BucketEntry", "WeightManifest", "iter_tensors", "manifest_tensors", "pack_state"]
