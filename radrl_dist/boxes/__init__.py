"""Boxes: the box type, geometry (IoU) and per-model-family text codecs."""
