"""Rewrite a saved checkpoint's weight names into the layout the family's published checkpoints use.

Why: transformers 5 saves some families in a layout of its own (Gemma 3's SigLIP tower without its
`vision_model.` level) that vLLM does not load, while the checkpoints people download have the
published layout. A tiny build, and any checkpoint this package writes, is rewritten so that every
engine loads it like a downloaded one; transformers loads both layouts.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from radrl_dist.models.families import FamilySpec, get_family


def published_name(key: str, family: str | FamilySpec) -> str:
    """`key` as the family's published files name it (unchanged when already so, or no rule applies)."""
    for saved, published in get_family(family).published_prefixes:
        if key.startswith(saved) and not key.startswith(published):
            return published + key[len(saved):]
    return key


def write_published_layout(model_dir: str | Path, family: str | FamilySpec) -> int:
    """Rename the weights of every `*.safetensors` in `model_dir` in place; returns how many changed."""
    if not get_family(family).published_prefixes:
        return 0
    changed = 0
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            metadata = st.metadata() or {"format": "pt"}
            tensors = {published_name(k, family): st.get_tensor(k) for k in st.keys()}
            n = sum(published_name(k, family) != k for k in st.keys())
        if n:
            save_file(tensors, str(f), metadata=metadata)
            changed += n
    return changed
