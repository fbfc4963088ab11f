"""A small HTML + markdown gallery: per study the image with reference (green) and predicted (red)
boxes drawn, the reference and candidate text, and the observations whose labels disagree
highlighted. Reads per-study records as `score_predictions` writes them, plus image paths."""

from __future__ import annotations

import html
import textwrap
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


# --------------------------------------------------------------------------- START vs END figure
# One PNG a README can show: per held-out study the image (reference boxes green, the START output's
# boxes orange, the END output's red) beside the reference and both outputs' text with their scores.
START_END_COLOURS = {"ref_boxes": "#00b000", "start_boxes": "#ff9900", "end_boxes": "#e01010"}


def _wrap(text: str, width: int) -> str:
    """Model output wrapped for a figure; control characters (tiny models sample them) shown as '?'."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return "\n".join(textwrap.wrap(text, width)) or "(empty)"


def start_end_figure(rows: Sequence[dict], out_path: Path, title: str = "", width_chars: int = 95,
                     dpi: int = 72) -> Path:
    """rows: {study_id, image_path, reference, start_text, end_text, start_score, end_score, and
    optionally ref_boxes / start_boxes / end_boxes as [x1, y1, x2, y2] in source pixels}."""
    import matplotlib  # lazy: matplotlib, only when a gallery is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib; the Agg backend is chosen before pyplot loads
    from matplotlib import patches  # lazy: matplotlib, only when a gallery is drawn

    if not rows:
        raise ValueError("a START/END gallery needs at least one row")
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 2.3 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 4.2]})
    for (ax_img, ax_txt), r in zip(axes, rows):
        src = r.get("image_path")
        if src and Path(src).exists():
            ax_img.imshow(Image.open(src).convert("L"), cmap="gray", vmin=0, vmax=255)
            for key, colour in START_END_COLOURS.items():
                for b in r.get(key) or []:
                    ax_img.add_patch(patches.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False,
                                                       edgecolor=colour, lw=1.8))
        ax_img.set_axis_off()
        text = (f"{r['study_id']}\n"
                f"REFERENCE: {_wrap(r.get('reference', ''), width_chars)}\n"
                f"START ({r['start_score']:.2f}): {_wrap(r.get('start_text', ''), width_chars)}\n"
                f"END ({r['end_score']:.2f}): {_wrap(r.get('end_text', ''), width_chars)}")
        ax_txt.text(0, 1, text, va="top", ha="left", fontsize=7.5, family="monospace", transform=ax_txt.transAxes,
                    parse_math=False)  # model output may hold '$'; never mathtext
        ax_txt.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return out_path
