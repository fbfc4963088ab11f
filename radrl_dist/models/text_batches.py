"""Length-sorted, right-padded batches of token-id lists for the BERT-style scorers (labelers, rewards)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


def padded_batches(ids: Sequence[Sequence[int]], batch_size: int, pad_id: int
                   ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """Yield (indices into `ids`, input_ids [B, T], attention_mask [B, T]); similar lengths share a
    batch so little compute goes to padding. Callers scatter results back with the indices."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        width = max(len(ids[i]) for i in idx)
        x = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            x[r, : len(ids[i])] = torch.as_tensor(ids[i], dtype=torch.long)
            mask[r, : len(ids[i])] = 1
        yield idx, x, mask
