"""Boxes: geometry (IoU) and per-model-family text codecs."""
