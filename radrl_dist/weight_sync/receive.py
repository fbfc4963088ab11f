"""A receiver's last step: named tensors of a manifest into a module's weights, adopted or copied.

Why adopt: an `objref` manifest's tensors are read-only views of the Ray object store, immutable and
kept mapped for as long as a view lives. A CPU engine can make them its parameters instead of copying
them (the copy was half of a sync's time), and every actor on a node then shares one copy of the
weights. Nothing in generation writes into parameters; `ModuleWeights` never writes into a view
either: a later copying load first gives such a parameter fresh memory of its own.
Copy: GPU engines (the host-to-device copy is needed anyway), dtype changes, and sources that get
overwritten (a collective receiver's reused buffers, a LoRA merge's W0 clones).

A parameter tied to others (e.g. `lm_head.weight` sharing `embed_tokens.weight`) is one Parameter in
several module slots; adopting replaces it in every slot so the tie holds.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import torch



@dataclass
class LoadStats:
    adopted: int = 0
    copied: int = 0
    adopted_bytes: int = 0
    copied_bytes: int = 0


class ModuleWeights:
    """Loads named tensors into `module`; remembers which parameters are store views (never written)."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self._views: dict[int, weakref.ref] = {}  # Parameters that view the object store, by id()

    def _slots(self) -> dict[int, list[tuple[torch.nn.Module, str]]]:
        """Every (module, attribute) holding each Parameter, by id() (tied weights have several)."""
        slots: dict[int, list[tuple[torch.nn.Module, str]]] = {}
        for mod in self.module.modules():
            for leaf, p in mod._parameters.items():
                if p is not None:
                    slots.setdefault(id(p), []).append((mod, leaf))
        return slots

    def _replace(self, params: dict[str, torch.nn.Parameter], slots, names, name: str, data: torch.Tensor) -> torch.nn.Parameter:
        """A new Parameter over `data` in every slot (and name) that held `params[name]`."""
        old = params[name]
        new = torch.nn.Parameter(data, requires_grad=old.requires_grad)
        for mod, leaf in slots[id(old)]:
            mod._parameters[leaf] = new
        for n in names[id(old)]:  # tied names now resolve to the new one
            params[n] = new
        slots[id(new)], names[id(new)] = slots.pop(id(old)), names.pop(id(old))
        self._views.pop(id(old), None)
        return new

    def _viewing(self, p: torch.nn.Parameter) -> bool:
        ref = self._views.get(id(p))
        return ref is not None and ref() is p

    def store_views(self) -> list[str]:
        """Names of the parameters that are object-store views now."""
        return [n for n, p in self.module.named_parameters(remove_duplicate=False) if self._viewing(p)]

    def load(self, named: Iterable[tuple[str, torch.Tensor]], adopt: bool, what: str = "manifest") -> LoadStats:
        """Check every name first (nothing is written for an unknown one), then load tensor by tensor.

        A shape mismatch raises when that tensor is reached, with earlier ones loaded: the engine's
        version gate (LOADING until a load completes) is what keeps a half-loaded engine from serving.

        adopt: the tensors are immutable store views; a CPU parameter of the same dtype becomes the
        view itself. Otherwise the bytes are copied into memory the module owns.
        """
        new = dict(named)
        state = self.module.state_dict(keep_vars=True)  # parameters and persistent buffers
        unknown = sorted(set(new) - set(state))
        if unknown:
            raise KeyError(f"{what} names weights the model does not have: {unknown[:5]}")
        params = dict(self.module.named_parameters(remove_duplicate=False))
        slots = self._slots()
        names: dict[int, list[str]] = {}
        for n, p in params.items():
            names.setdefault(id(p), []).append(n)
        stats = LoadStats()
        with torch.no_grad():
            for name, t in new.items():
                if tuple(state[name].shape) != tuple(t.shape):
                    raise ValueError(f"{name}: manifest shape {tuple(t.shape)} != model {tuple(state[name].shape)} ({what})")
                p, nbytes = params.get(name), t.numel() * t.element_size()
                if p is None:  # a buffer: always copied
                    state[name].copy_(t)
                elif adopt and t.device == p.device and t.dtype == p.dtype:
                    q = self._replace(params, slots, names, name, t)
                    self._views[id(q)] = weakref.ref(q)
                    stats.adopted, stats.adopted_bytes = stats.adopted + 1, stats.adopted_bytes + nbytes
                    continue
                elif self._viewing(p):  # never write into the store: own memory first
                    self._replace(params, slots, names, name, t.to(p.device, p.dtype, copy=True))
                else:
                    p.copy_(t)
                stats.copied, stats.copied_bytes = stats.copied + 1, stats.copied_bytes + nbytes
        return stats
