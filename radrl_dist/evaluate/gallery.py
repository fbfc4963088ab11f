"""A small HTML + markdown gallery: per study the image with reference (green) and predicted (red)
boxes drawn, the reference and candidate text, and the observations whose labels disagree
highlighted. Reads per-study records as `score_predictions` writes them, plus image paths."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from radrl_dist.constants import CHEXPERT_OBSERVATIONS, CLASS_NAMES


def disagreements(rec: dict) -> list[str]:
    """'Observation: reference class -> candidate class' for each differing label."""
    cl, rl = rec.get("cand_labels"), rec.get("ref_labels")
    if cl is None or rl is None:
        return []
    return [
        f"{name}: {CLASS_NAMES[int(r)]} → {CLASS_NAMES[int(c)]}"
        for name, c, r in zip(CHEXPERT_OBSERVATIONS, cl, rl)
        if int(c) != int(r)
    ]


def _scale(box: Sequence[float], w: int, h: int) -> list[float]:
    """Boxes in 0..1 are scaled to pixels; larger ones are taken as pixels already."""
    return [box[0] * w, box[1] * h, box[2] * w, box[3] * h] if max(box) <= 1.0 else list(box)


def draw_boxes(image_path: Path, rec: dict, out_path: Path, max_side: int = 384) -> Path:
    img = Image.open(image_path).convert("RGB")
    w, h = img.size
    draw = ImageDraw.Draw(img)
    lw = max(2, w // 200)
    for field, colour in (("ref_boxes", (0, 200, 0)), ("pred_boxes", (230, 30, 30))):
        for b in rec.get(field) or []:
            draw.rectangle(_scale(b, w, h), outline=colour, width=lw)
    img.thumbnail((max_side, max_side))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    img.save(out_path)
    return out_path


def write_gallery(
    records: Sequence[dict], images: dict[str, str], out_dir: Path, max_items: int = 20
) -> dict[str, Path]:
    """gallery.html and gallery.md under out_dir (thumbnails in out_dir/gallery/). `images` maps
    study_id to an image path; studies without an existing image are shown text-only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_parts = ["<html><head><meta charset='utf-8'><style>td{vertical-align:top;padding:6px}"
                  "mark{background:#fdd}</style></head><body><h1>Gallery</h1><table border=1>"]
    md = ["# Gallery", "", "Green: reference boxes; red: predicted boxes. Disagreeing labels in bold.", ""]
    for rec in list(records)[:max_items]:
        sid = rec["study_id"]
        img_rel = ""
        src = images.get(sid)
        if src and Path(src).exists():
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in sid)
            img_rel = f"gallery/{safe}.png"
            draw_boxes(Path(src), rec, out_dir / img_rel)
        dis = disagreements(rec)
        extra = f"IoU {rec['iou']:.3f}" if "iou" in rec else ""
        html_parts.append(
            "<tr><td><b>" + html.escape(sid) + "</b><br>" + html.escape(extra) + "<br>"
            + (f"<img src='{img_rel}' width=256>" if img_rel else "(no image)")
            + "</td><td><b>Reference</b><br>" + html.escape(rec.get("reference", ""))
            + "<br><b>Candidate</b><br>" + html.escape(rec.get("candidate", ""))
            + "</td><td>" + "<br>".join(f"<mark>{html.escape(d)}</mark>" for d in dis) + "</td></tr>"
        )
        md += [f"## {sid} {extra}".rstrip(), ""]
        if img_rel:
            md += [f"![{sid}]({img_rel})", ""]
        md += [f"**Reference:** {rec.get('reference', '')}", "", f"**Candidate:** {rec.get('candidate', '')}", ""]
        md += ([f"- **{d}**" for d in dis] + [""]) if dis else ["Labels agree.", ""]
    html_parts.append("</table></body></html>")
    paths = {"html": out_dir / "gallery.html", "md": out_dir / "gallery.md"}
    paths["html"].write_text("\n".join(html_parts))
    paths["md"].write_text("\n".join(md))
    return paths
