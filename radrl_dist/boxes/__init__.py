"""Boxes: the box type, geometry (IoU) and box text formats (codecs) that model families share."""
