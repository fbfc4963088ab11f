"""`build_labeler(spec)`: the one place that turns a config string into a Labeler.

Specs: "rules" (default, no weights needed), "rules:DIR" (your own phrase files), "chexbert:PATH"
(a local chexbert.pth-layout checkpoint; the tokenizer dir comes from `tokenizer=` or is looked up
next to the checkpoint). The CheXbert module (and torch) is imported only when asked for.
"""

from __future__ import annotations

from radrl_dist.labelers.base import Labeler
from radrl_dist.labelers.rules import RuleLabeler


def build_labeler(spec: str = "rules", *, tokenizer: str | None = None, device: str = "cpu",
                  batch_size: int = 32) -> Labeler:
    """Labeler from a spec string; a bad spec raises ValueError naming the accepted forms."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"labeler spec must be 'rules' or 'chexbert:PATH', got {spec!r}")
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "rules":
        return RuleLabeler(arg or None)
    if kind == "chexbert":
        if not arg:
            raise ValueError("labeler spec 'chexbert' needs a checkpoint path: 'chexbert:/path/to/chexbert.pth'")
        # lazy: CheXbert loads torch/transformers; the rule labeler needs neither
        from radrl_dist.labelers.chexbert import CheXbertLabeler

        return CheXbertLabeler(arg, tokenizer=tokenizer, device=device, batch_size=batch_size)
    raise ValueError(f"unknown labeler spec {spec!r}: use 'rules', 'rules:PHRASE_DIR' or 'chexbert:PATH'")
