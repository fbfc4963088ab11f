"""Weights from learner to rollout (DESIGN section 5): one manifest type, transports by name, one seam.

`manifest.py`: the versioned `WeightManifest` (the control plane) and the bucket layout both sides
agree on; `transport.py`: the registry (`objref` in `objref.py`, `collective` in `collective.py`,
`rdt` in `rdt.py`);
`endpoints.py`: the sender (learner rank 0) and receiver (rollout actor) ends; `receive.py`: a
receiver's load into a module (adopting immutable store views, or copying); `sync.py`: `WeightSync`,
the driver-side object that runs both ends of a push.
"""

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest, iter_tensors, manifest_tensors, pack_state

__all__ = ["BucketEntry", "WeightManifest", "iter_tensors", "manifest_tensors", "pack_state"]
