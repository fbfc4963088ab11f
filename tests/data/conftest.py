"""A small phantom dataset shared by the data-layer tests (generated once per session)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radrl_dist.data.phantom import generate_phantom_dataset


@pytest.fixture(scope="session")
def phantom_ds(tmp_path_factory):
    """SimpleNamespace(out, paths, n_train, n_eval, seed, size) of a 16 + 6 study dataset."""
    ns = SimpleNamespace(n_train=16, n_eval=6, seed=3, size=(128, 160))
    ns.out = tmp_path_factory.mktemp("phantom") / "ds"
    ns.paths = generate_phantom_dataset(ns.out, ns.n_train, ns.n_eval, ns.seed, ns.size)
    return ns
