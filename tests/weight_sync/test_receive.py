"""Receiving side without Ray: pieces joined into one view, and a module adopting or copying tensors.

The objref sender cuts tensors into <= 1 MiB pieces (Ray copies bigger buffers with 6 threads); a
receiver must see each tensor whole again, as a view when the pieces are back to back. A CPU engine
adopts store views as its weights; it must keep tied weights tied and never write into a view later.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from radrl_dist.weight_sync.manifest import iter_tensors, joined_pieces, layout
from radrl_dist.weight_sync.objref import host_bytes, pieces
from radrl_dist.weight_sync.receive import ModuleWeights


def test_back_to_back_pieces_join_as_a_view_others_as_a_copy():
    flat = np.arange(10_000, dtype=np.uint8)
    joined = joined_pieces(pieces(flat, 4096))
    assert np.shares_memory(joined, flat) and np.array_equal(joined, flat) and not joined.flags.writeable
    apart = [flat[:4096], flat[5000:9096]]  # a gap between them: must not be read through
    out = joined_pieces(apart)
    assert not np.shares_memory(out, flat) and np.array_equal(out, np.concatenate(apart))


def test_piece_lists_roundtrip_every_dtype_and_empty_tensors():
    tensors = [("w", torch.randn(300, 70)), ("e", torch.zeros(0, 3)), ("h", torch.randn(999).bfloat16()),
               ("t", torch.arange(12.0).reshape(3, 4).t()), ("b", torch.tensor([True, False]))]
    entries = layout(tensors, 1 << 30)
    bucket = [p for _, t in tensors for p in pieces(host_bytes(t), 1000)]
    assert len(bucket) > len(tensors)  # several pieces per tensor
    got = dict(iter_tensors(entries, [bucket]))
    for n, t in tensors:
        assert got[n].dtype == t.dtype and got[n].shape == t.shape and torch.equal(got[n], t), n
    with pytest.raises(ValueError, match="pieces no entry claims"):
        dict(iter_tensors(entries, [bucket + [np.zeros(4, np.uint8)]]))


class _Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(8, 4)
        self.proj = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 8, bias=False)
        self.head.weight = self.embed.weight  # tied, as tie_word_embeddings does


def _store_views(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """Read-only numpy-backed tensors, as `ray.get` of an objref bucket gives a receiver."""
    arrays = {n: t.detach().numpy().copy() for n, t in state.items()}
    for a in arrays.values():
        a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        views = {n: torch.from_numpy(a) for n, a in arrays.items()}
    return views, arrays


def test_adopted_views_become_the_weights_and_ties_hold():
    torch.manual_seed(0)
    m = _Tied()
    src = {"embed.weight": torch.randn(8, 4), "proj.weight": torch.randn(4, 4), "proj.bias": torch.randn(4)}
    views, _ = _store_views(src)
    w = ModuleWeights(m)
    stats = w.load(views.items(), adopt=True)
    assert stats.adopted == 3 and stats.copied == 0
    assert m.embed.weight.data_ptr() == views["embed.weight"].data_ptr()  # no copy
    assert m.head.weight is m.embed.weight  # the tie follows the adopted weight
    assert sorted(w.store_views()) == ["embed.weight", "head.weight", "proj.bias", "proj.weight"]


def test_a_copying_load_after_adoption_never_writes_into_the_views():
    """Catch-up over objref (adopted), then a collective push (copied): the store must stay intact."""
    torch.manual_seed(0)
    m = _Tied()
    old = {"embed.weight": torch.randn(8, 4), "proj.weight": torch.randn(4, 4)}
    views, arrays = _store_views(old)
    w = ModuleWeights(m)
    w.load(views.items(), adopt=True)
    new = {"head.weight": torch.randn(8, 4), "proj.weight": torch.randn(4, 4)}  # via the tied name
    stats = w.load(((n, t.clone()) for n, t in new.items()), adopt=False)
    assert stats.copied == 2 and w.store_views() == []
    for n, t in old.items():
        assert np.array_equal(arrays[n], t.numpy()), f"{n}: the store view was written"
    assert torch.equal(m.embed.weight, new["head.weight"]) and m.head.weight is m.embed.weight
    assert torch.equal(m.proj.weight, new["proj.weight"])
    before = m.proj.weight
    w.load([("proj.weight", torch.zeros(4, 4))], adopt=False)  # owned memory now: copied in place
    assert m.proj.weight is before and torch.equal(before, torch.zeros(4, 4))


def test_unknown_names_write_nothing_and_dtype_mismatch_is_copied():
    m = _Tied()
    before = m.proj.weight.detach().clone()
    with pytest.raises(KeyError, match="v7 names weights the model does not have: \\['nope'\\]"):
        ModuleWeights(m).load([("proj.weight", torch.ones(4, 4)), ("nope", torch.ones(1))], adopt=True, what="v7")
    assert torch.equal(m.proj.weight, before)
    stats = ModuleWeights(m).load([("proj.weight", torch.ones(4, 4, dtype=torch.float64))], adopt=True)
    assert stats.copied == 1 and m.proj.weight.dtype == torch.float32 and torch.equal(m.proj.weight, torch.ones(4, 4))
