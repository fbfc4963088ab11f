"""Plots and gallery pieces: PNGs are written, bad logs are clear errors, disagreements listed."""

import json
from pathlib import Path

import pytest
from PIL import Image

from radrl_dist.evaluate.gallery import disagreements, draw_boxes
from radrl_dist.evaluate.plots import plot_iou_histogram, plot_reward_curves


def test_reward_curves_and_histogram(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "reward/mean": s * 0.1, "kl": 0.0}) for s in range(5)))
    png = plot_reward_curves(log, tmp_path / "r.png")
    assert Image.open(png).size[0] > 100
    assert Image.open(plot_iou_histogram([0.1, 0.6, 0.9], tmp_path / "h.png")).format == "PNG"
    (tmp_path / "empty.jsonl").write_text('{"kl": 1}\n')
    with pytest.raises(ValueError, match="no JSON lines with a 'step'"):
        plot_reward_curves(tmp_path / "empty.jsonl", tmp_path / "x.png")


def test_disagreements_and_box_drawing(tmp_path):
    rec = {"cand_labels": [0] * 9 + [1] + [0] * 4, "ref_labels": [0] * 9 + [2] + [0] * 4,
           "ref_boxes": [[0.1, 0.1, 0.5, 0.5]], "pred_boxes": [[20, 20, 40, 40]]}
    assert disagreements(rec) == ["Pleural Effusion: negative → positive"]
    src = tmp_path / "img.png"
    Image.new("L", (100, 100), 0).save(src)
    out = draw_boxes(src, rec, tmp_path / "o.png")
    px = Image.open(out).convert("RGB")
    assert px.getpixel((10, 25)) == (0, 200, 0)  # normalised reference box scaled to pixels
    assert px.getpixel((40, 30))[0] > 200  # predicted box in pixels, red
