"""Reusable flat byte buffers, one per bucket slot, for transports that copy weights into memory they own.

Senders pack each version into staging buffers and receivers take each version into receive buffers;
pushing the same model again must allocate nothing, so staging and receive memory stay bounded over a run
(tests/weight_sync measure ten pushes in a row). A buffer grows only when a version needs more bytes.
"""

from __future__ import annotations

import torch


class ByteBuffers:
    """Flat uint8 buffers by slot on one device, grown on demand and reused across versions."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._slots: list[torch.Tensor] = []

    def get(self, slot: int, nbytes: int) -> torch.Tensor:
        """A view of the first `nbytes` bytes of buffer `slot`; its earlier contents are not kept."""
        while len(self._slots) <= slot:
            self._slots.append(torch.empty(0, dtype=torch.uint8, device=self.device))
        buf = self._slots[slot]
        if buf.numel() < nbytes or buf.device.type != torch.device(self.device).type:
            buf = self._slots[slot] = torch.empty(nbytes, dtype=torch.uint8, device=self.device)
        return buf[:nbytes]

    def nbytes(self) -> int:
        return sum(b.numel() for b in self._slots)

    def clear(self) -> None:
        self._slots = []
